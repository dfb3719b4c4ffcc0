package aws

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/nexplane/nexplane/app"
)

// Retry and timeout bounds. A throttled or failing call is tried
// maxAttempts times with jittered exponential backoff capped at
// defaultMaxBackoff; a call (all its attempts) never outlives
// requestTimeout, so a stuck endpoint cannot hold a change request's lease.
const (
	maxAttempts       = 5
	defaultMaxBackoff = 10 * time.Second
	requestTimeout    = 90 * time.Second
)

// conn holds SDK clients for one connector. IAM calls are signed with the
// assumed role when assume_role_arn is set; selfIAM and selfSTS always use
// the stored key itself, because rotating that key is self-service of the
// key's own user.
type conn struct {
	cfg     *Config
	iam     *iam.Client
	sts     *sts.Client
	selfIAM *iam.Client
	selfSTS *sts.Client

	creds *swappableCreds
	calls *atomic.Int64 // HTTP requests sent, retries included

	newSelfClients func(Credentials) (*iam.Client, *sts.Client) // for verifying a rotated key
	verifyInterval time.Duration
	verifyTimeout  time.Duration
}

var (
	_ app.Conn          = (*conn)(nil)
	_ app.InventoryConn = (*conn)(nil)
)

func (c *conn) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "aws conn %s %s", c.cfg.Region, c.endpoint())
}
func (c *conn) LogValue() slog.Value {
	return slog.StringValue("aws " + c.cfg.Region + " " + c.endpoint())
}

// Calls returns how many HTTP requests this connection has sent to AWS
// (every attempt counts), for benchmarks and sync statistics.
func (c *conn) Calls() int64 { return c.calls.Load() }

// CallCounter is implemented by AWS connections; a sync can report its cost.
type CallCounter interface{ Calls() int64 }

func (c *conn) endpoint() string {
	if c.cfg.EndpointURL != "" {
		return c.cfg.EndpointURL
	}
	return "the public AWS endpoints"
}

// connOf gets our session back from the app.Conn an operation is given; any
// other type is a wiring bug (an internal error, not a user's).
func connOf(ac app.Conn) (*conn, error) {
	c, ok := ac.(*conn)
	if !ok || c == nil {
		return nil, fmt.Errorf("aws: operation given a %T connection, want one from the aws driver", ac)
	}
	return c, nil
}

// swappableCreds is a static key that rotation can replace in place, so
// the open connection keeps working after its old key is deleted.
type swappableCreds struct{ v atomic.Pointer[Credentials] }

func (s *swappableCreds) Retrieve(context.Context) (aws.Credentials, error) {
	c := s.v.Load()
	return aws.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey, Source: "nexplane"}, nil
}

func (s *swappableCreds) current() Credentials { return *s.v.Load() }

// countingClient counts every HTTP request the SDK sends.
type countingClient struct {
	inner aws.HTTPClient
	n     *atomic.Int64
}

func (c countingClient) Do(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.inner.Do(r)
}

// connect builds the clients. It makes no call: Test does, and operations
// report their own failures with context.
func (d Driver) connect(cfg *Config, creds *Credentials) *conn {
	backoff := d.maxBackoff
	if backoff <= 0 {
		backoff = defaultMaxBackoff
	}
	calls := new(atomic.Int64)
	httpClient := countingClient{inner: awshttp.NewBuildableClient(), n: calls}
	base := aws.Config{
		Region:     cfg.Region,
		HTTPClient: httpClient,
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.MaxBackoff = backoff
				// No client-side retry quota: attempts are already bounded,
				// and a sync's many concurrent calls must not starve
				// each other's retries.
				o.RateLimiter = ratelimit.None
			})
		},
	}
	iamOpt := func(o *iam.Options) {
		if cfg.EndpointURL != "" {
			o.BaseEndpoint = aws.String(cfg.EndpointURL)
		}
	}
	stsOpt := func(o *sts.Options) {
		if cfg.EndpointURL != "" {
			o.BaseEndpoint = aws.String(cfg.EndpointURL)
		}
	}
	clientsFor := func(p aws.CredentialsProvider) (*iam.Client, *sts.Client) {
		c := base.Copy()
		c.Credentials = p
		return iam.NewFromConfig(c, iamOpt), sts.NewFromConfig(c, stsOpt)
	}

	sc := &swappableCreds{}
	sc.v.Store(creds)
	c := &conn{cfg: cfg, creds: sc, calls: calls, verifyInterval: d.verifyInterval, verifyTimeout: d.verifyTimeout}
	c.selfIAM, c.selfSTS = clientsFor(sc)
	c.iam, c.sts = c.selfIAM, c.selfSTS
	if cfg.AssumeRoleARN != "" {
		role := stscreds.NewAssumeRoleProvider(c.selfSTS, cfg.AssumeRoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "nexplane"
		})
		c.iam, c.sts = clientsFor(aws.NewCredentialsCache(role))
	}
	c.newSelfClients = func(k Credentials) (*iam.Client, *sts.Client) {
		kk := k
		return clientsFor(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: kk.AccessKeyID, SecretAccessKey: kk.SecretAccessKey, Source: "nexplane"}, nil
		}))
	}
	if c.verifyInterval <= 0 {
		c.verifyInterval = 2 * time.Second
	}
	if c.verifyTimeout <= 0 {
		c.verifyTimeout = defaultVerifyTimeout
	}
	return c
}

// call runs one SDK call (with its retries) under requestTimeout and maps
// its error to an app error naming what we were doing.
func call[T any](ctx context.Context, c *conn, what string, fn func(context.Context) (T, error)) (T, error) {
	cctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	out, err := fn(cctx)
	if err != nil {
		var zero T
		return zero, c.mapErr(ctx, what, err)
	}
	return out, nil
}

// identity is who a set of credentials is in AWS.
type identity struct {
	ARN, Account, via string
}

// whoami asks STS, and IAM GetUser when STS is unavailable (some
// air-gapped partitions and VPC setups expose only IAM). A rejection of the
// credentials is final: IAM would only say the same thing less clearly.
func (c *conn) whoami(ctx context.Context, ic *iam.Client, sc *sts.Client) (*identity, error) {
	out, stsErr := call(ctx, c, "asking STS who we are (GetCallerIdentity)", func(ctx context.Context) (*sts.GetCallerIdentityOutput, error) {
		return sc.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	})
	if stsErr == nil {
		return &identity{ARN: aws.ToString(out.Arn), Account: aws.ToString(out.Account), via: "STS"}, nil
	}
	if isCredentialRejection(stsErr) || ctx.Err() != nil {
		return nil, stsErr
	}
	u, err := call(ctx, c, "asking IAM who we are (GetUser)", func(ctx context.Context) (*iam.GetUserOutput, error) {
		return ic.GetUser(ctx, &iam.GetUserInput{})
	})
	if err != nil {
		return nil, partial(err, "%s; falling back to IAM failed too", app.ErrMessage(stsErr))
	}
	arn := aws.ToString(u.User.Arn)
	return &identity{ARN: arn, Account: accountOf(arn), via: "IAM GetUser (STS failed: " + app.ErrMessage(stsErr) + ")"}, nil
}

func accountOf(arn string) string {
	if p := strings.Split(arn, ":"); len(p) >= 6 {
		return p[4]
	}
	return ""
}

// Test proves reachability and credentials and says who we are.
func (c *conn) Test(ctx context.Context) (string, error) {
	id, err := c.whoami(ctx, c.iam, c.sts)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("authenticated as %s (account %s) via %s at %s, region %s", id.ARN, id.Account, id.via, c.endpoint(), c.cfg.Region)
	if c.cfg.AssumeRoleARN != "" {
		msg += " (assumed role " + c.cfg.AssumeRoleARN + ")"
	}
	return msg, nil
}

// Close has nothing to release: the SDK clients share an idle pool that
// the garbage collector reclaims.
func (c *conn) Close() error { return nil }
