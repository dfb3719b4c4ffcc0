// Package awstest runs the kumo AWS emulator in-process, behind a small
// shim, for the AWS connector's tests and benchmarks.
//
// kumo v0.33.1 (github.com/sivchari/kumo, root package only) serves IAM
// users, access keys, customer-managed policies and their attachment, and
// STS. Reading its IAM handlers (internal/service/iam/service.go) shows it
// lacks more than the two actions the issue names, and differs from AWS
// where the connector depends on it, so the shim in front of it serves:
//
//   - UpdateAccessKey and GetAccessKeyLastUsed (absent from kumo). The shim
//     keeps each key's status and last use by access key id and rewrites
//     the Status in kumo's ListAccessKeys answers, so listings, inventory
//     and operations all see the status it holds.
//   - ListAttachedUserPolicies, the inline user-policy actions
//     (Put/Get/List/DeleteUserPolicy) and all group actions (CreateGroup,
//     GetGroup, ListGroups, ListGroupsForUser, AddUserToGroup,
//     RemoveUserFromGroup, AttachGroupPolicy, ListAttachedGroupPolicies):
//     absent from kumo. Attach/DetachUserPolicy of customer policies pass
//     through to kumo and are recorded; AWS-managed ARNs
//     (arn:aws:iam::aws:policy/…, which kumo does not know) are served here.
//   - ListUsers: kumo returns at most MaxItems users in random order with
//     IsTruncated always false, which would silently lose users past the
//     first page; the shim pages kumo's full list by name with Marker.
//   - STS GetCallerIdentity and IAM GetUser without a name: kumo answers
//     "root" whoever calls; the shim answers with the key's IAM user.
//   - Authentication: kumo never checks signatures. The shim knows every
//     key's secret (it sees CreateAccessKey answers) and verifies each
//     request's SigV4 signature, answering InvalidClientTokenId for an
//     unknown or inactive key and SignatureDoesNotMatch for a wrong secret,
//     as AWS does.
//
// kumo registers its services once per process (init), so every
// kumo.NewServer in a test binary shares one IAM store. Start therefore
// holds a package lock until its cleanup, which empties the store: servers
// in one binary run one after another, each on a clean account.
//
// Everything else is reverse-proxied to kumo unchanged. FailNext and
// Throttle inject errors for the compensation and retry tests.
package awstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/sivchari/kumo"
)

// Fixed facts of the emulated account.
const (
	Region    = "us-east-1"
	AccountID = "123456789012" // kumo's fixed account
	// ConnectorUser is the IAM user whose key the connector holds.
	ConnectorUser = "nexplane"
)

// Server is kumo plus the shim. Its zero-value-free fields are set by Start.
type Server struct {
	URL    string // the shim's base URL: the connector's endpoint_url
	Region string
	// Root credentials act as the account root (unrestricted; kumo has no
	// IAM policy evaluation) for seeding and checking.
	RootAccessKeyID, RootSecretAccessKey string
	// ConnectorAccessKeyID and ConnectorSecretAccessKey are the key of
	// ConnectorUser (AdministratorAccess attached) created by Start.
	ConnectorAccessKeyID, ConnectorSecretAccessKey string
	ConnectorUserARN                               string

	kumo  *kumo.Server
	hs    *httptest.Server
	proxy *httputil.ReverseProxy
	http  *http.Client

	mu       sync.Mutex
	keys     map[string]*keyState         // by access key id
	attached map[string][]string          // user name -> policy ARNs, in attach order
	inline   map[string]map[string]string // user name -> policy name -> document
	groups   map[string]*groupState       // by name
	fail     map[string][]string          // action -> error codes to answer next
	throttle map[string]int               // action -> Throttling answers left
	requests atomic.Int64
	// rejectNew marks keys created from now on as not yet accepted
	// (requests signed with them get InvalidClientTokenId), as IAM's
	// propagation delay can do for a few seconds.
	rejectNew bool
}

type keyState struct {
	rejected             bool
	user, secret, status string
	lastUsed             time.Time
	lastService          string
}

type groupState struct {
	name, arn, id string
	created       time.Time
	members       map[string]bool
	attached      []string
}

// Start runs kumo and the shim on loopback ports and seeds the connector's
// IAM user. Both stop in tb.Cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	storeMu.Lock()
	k := kumo.NewServer()
	target, err := url.Parse(k.URL)
	if err != nil {
		k.Close()
		storeMu.Unlock()
		tb.Fatalf("awstest: kumo URL: %v", err)
	}
	s := &Server{
		Region:              Region,
		RootAccessKeyID:     "AKIAROOT" + randomUpper(12),
		RootSecretAccessKey: randomHex(40),
		kumo:                k,
		proxy:               httputil.NewSingleHostReverseProxy(target),
		http:                &http.Client{Timeout: 30 * time.Second},
		keys:                map[string]*keyState{},
		attached:            map[string][]string{},
		inline:              map[string]map[string]string{},
		groups:              map[string]*groupState{},
		fail:                map[string][]string{},
		throttle:            map[string]int{},
	}
	s.hs = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.hs.URL
	tb.Cleanup(func() {
		defer storeMu.Unlock()
		s.hs.Close()
		s.wipe()
		k.Close()
	})
	s.wipe() // in case a crashed run left something behind

	s.ConnectorUserARN = s.CreateUser(tb, ConnectorUser)
	s.AttachUserPolicy(tb, ConnectorUser, "arn:aws:iam::aws:policy/AdministratorAccess")
	s.ConnectorAccessKeyID, s.ConnectorSecretAccessKey = s.CreateAccessKey(tb, ConnectorUser)
	return s
}

// storeMu serialises users of kumo's process-wide IAM store.
var storeMu sync.Mutex

// Requests counts the requests the shim has received.
func (s *Server) Requests() int64 { return s.requests.Load() }

// ConfigJSON is a connector config pointing at this server.
func (s *Server) ConfigJSON() []byte {
	return mustJSON(map[string]any{"region": s.Region, "endpoint_url": s.URL})
}

// CredentialsJSON is the connector user's key.
func (s *Server) CredentialsJSON() []byte {
	return mustJSON(map[string]string{"access_key_id": s.ConnectorAccessKeyID, "secret_access_key": s.ConnectorSecretAccessKey})
}

// IAM returns an IAM client signed with the given key (root when empty).
func (s *Server) IAM(keyID, secret string) *iam.Client {
	cfg := s.awsConfig(keyID, secret)
	return iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

// STS returns an STS client signed with the given key (root when empty).
func (s *Server) STS(keyID, secret string) *sts.Client {
	cfg := s.awsConfig(keyID, secret)
	return sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(s.URL) })
}

func (s *Server) awsConfig(keyID, secret string) aws.Config {
	if keyID == "" {
		keyID, secret = s.RootAccessKeyID, s.RootSecretAccessKey
	}
	return aws.Config{Region: s.Region, Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: keyID, SecretAccessKey: secret}, nil
	})}
}

// Admin is an IAM client with the root credentials.
func (s *Server) Admin() *iam.Client { return s.IAM("", "") }

func ctx(tb testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return c
}

// CreateUser creates an IAM user and returns its ARN.
func (s *Server) CreateUser(tb testing.TB, name string) string {
	tb.Helper()
	out, err := s.Admin().CreateUser(ctx(tb), &iam.CreateUserInput{UserName: aws.String(name)})
	if err != nil {
		tb.Fatalf("awstest: create user %s: %v", name, err)
	}
	return aws.ToString(out.User.Arn)
}

// CreateAccessKey creates a key for user and returns its id and secret.
func (s *Server) CreateAccessKey(tb testing.TB, user string) (string, string) {
	tb.Helper()
	out, err := s.Admin().CreateAccessKey(ctx(tb), &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	if err != nil {
		tb.Fatalf("awstest: create access key for %s: %v", user, err)
	}
	return aws.ToString(out.AccessKey.AccessKeyId), aws.ToString(out.AccessKey.SecretAccessKey)
}

// CreatePolicy creates a customer-managed policy and returns its ARN.
func (s *Server) CreatePolicy(tb testing.TB, name, document string) string {
	tb.Helper()
	out, err := s.Admin().CreatePolicy(ctx(tb), &iam.CreatePolicyInput{PolicyName: aws.String(name), PolicyDocument: aws.String(document)})
	if err != nil {
		tb.Fatalf("awstest: create policy %s: %v", name, err)
	}
	return aws.ToString(out.Policy.Arn)
}

// AttachUserPolicy attaches a managed policy (AWS-managed or customer).
func (s *Server) AttachUserPolicy(tb testing.TB, user, arn string) {
	tb.Helper()
	if _, err := s.Admin().AttachUserPolicy(ctx(tb), &iam.AttachUserPolicyInput{UserName: aws.String(user), PolicyArn: aws.String(arn)}); err != nil {
		tb.Fatalf("awstest: attach %s to %s: %v", arn, user, err)
	}
}

// PutUserPolicy sets an inline policy.
func (s *Server) PutUserPolicy(tb testing.TB, user, name, document string) {
	tb.Helper()
	if _, err := s.Admin().PutUserPolicy(ctx(tb), &iam.PutUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(name), PolicyDocument: aws.String(document)}); err != nil {
		tb.Fatalf("awstest: put inline policy %s on %s: %v", name, user, err)
	}
}

// CreateGroup creates a group and returns its ARN.
func (s *Server) CreateGroup(tb testing.TB, name string) string {
	tb.Helper()
	out, err := s.Admin().CreateGroup(ctx(tb), &iam.CreateGroupInput{GroupName: aws.String(name)})
	if err != nil {
		tb.Fatalf("awstest: create group %s: %v", name, err)
	}
	return aws.ToString(out.Group.Arn)
}

// AddUserToGroup adds a member.
func (s *Server) AddUserToGroup(tb testing.TB, user, group string) {
	tb.Helper()
	if _, err := s.Admin().AddUserToGroup(ctx(tb), &iam.AddUserToGroupInput{UserName: aws.String(user), GroupName: aws.String(group)}); err != nil {
		tb.Fatalf("awstest: add %s to %s: %v", user, group, err)
	}
}

// AttachGroupPolicy attaches a managed policy to a group.
func (s *Server) AttachGroupPolicy(tb testing.TB, group, arn string) {
	tb.Helper()
	if _, err := s.Admin().AttachGroupPolicy(ctx(tb), &iam.AttachGroupPolicyInput{GroupName: aws.String(group), PolicyArn: aws.String(arn)}); err != nil {
		tb.Fatalf("awstest: attach %s to group %s: %v", arn, group, err)
	}
}

// SeedUsers creates users named user00000, user00001, … with keysPerUser
// access keys each, through 32 concurrent SDK clients (benchmarks).
func (s *Server) SeedUsers(tb testing.TB, users, keysPerUser int) {
	tb.Helper()
	admin := s.Admin()
	c := ctx(tb)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	next := make(chan int)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				name := fmt.Sprintf("user%05d", i)
				if _, err := admin.CreateUser(c, &iam.CreateUserInput{UserName: aws.String(name)}); err != nil {
					errs <- err
					return
				}
				for k := 0; k < keysPerUser; k++ {
					if _, err := admin.CreateAccessKey(c, &iam.CreateAccessKeyInput{UserName: aws.String(name)}); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	var failed error
feed:
	for i := 0; i < users; i++ {
		select {
		case next <- i:
		case failed = <-errs:
			break feed
		}
	}
	close(next)
	wg.Wait()
	if failed == nil {
		select {
		case failed = <-errs:
		default:
		}
	}
	if failed != nil {
		tb.Fatalf("awstest: seeding users: %v", failed)
	}
}

// SetLastUsed records a key's last use (the zero time: never used).
// Requests signed with a key also record it, as AWS does.
func (s *Server) SetLastUsed(id string, at time.Time, service string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.keys[id]; k != nil {
		k.lastUsed, k.lastService = at, service
	}
}

// FailNext makes the next request for action answer with an AWS error
// code (e.g. "ServiceFailure", "AccessDenied", "InvalidClientTokenId").
func (s *Server) FailNext(action, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[action] = append(s.fail[action], code)
}

// Throttle makes the next n requests for action answer Throttling.
func (s *Server) Throttle(action string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle[action] = n
}

// RejectNewKeys makes keys created from now on unusable for signing, as
// if IAM had not propagated them yet.
func (s *Server) RejectNewKeys(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejectNew = on
}

// KeyUser returns the user owning a key the shim knows ("" if none).
func (s *Server) KeyUser(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.keys[id]; k != nil {
		return k.user
	}
	return ""
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

func randomUpper(n int) string { return strings.ToUpper(randomHex(n)) }
