package aws

import (
	"context"
	"encoding/json"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/nexplane/nexplane/app"
)

// Asset kinds this connector reports.
const (
	KindUser      = "aws.iam.user"
	KindAccessKey = "aws.iam.access_key"
	KindGroup     = "aws.iam.group"
)

// VolatileAttributes are attributes that change through normal use, not
// through administration (a key's last use). Drift detection should not
// call a change in them out-of-band.
var VolatileAttributes = map[string][]string{
	KindAccessKey: {"last_used", "last_used_service"},
}

// Volatile implements app.VolatileAttributes.
func (Driver) Volatile(kind string) []string { return VolatileAttributes[kind] }

// inventoryWorkers bounds the concurrent per-user reads: IAM answers
// each call in tens of milliseconds, so a few in flight cut a large
// account's sync time several-fold, while staying well under IAM's
// request-rate limits (throttles are retried with backoff anyway).
const inventoryWorkers = 8

// pageSize is the largest page IAM's list calls allow.
const pageSize = 1000

// Inventory lists every IAM user (with keys, policies and groups) and
// every group. Any failure fails the whole sync: a partial list would make
// assets look gone.
func (c *conn) Inventory(ctx context.Context) ([]app.Observation, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var users []types.User
	up := iam.NewListUsersPaginator(c.iam, &iam.ListUsersInput{MaxItems: aws.Int32(pageSize)})
	for up.HasMorePages() {
		page, err := call(ctx, c, "listing IAM users", func(ctx context.Context) (*iam.ListUsersOutput, error) { return up.NextPage(ctx) })
		if err != nil {
			return nil, err
		}
		users = append(users, page.Users...)
	}
	var groups []types.Group
	gp := iam.NewListGroupsPaginator(c.iam, &iam.ListGroupsInput{MaxItems: aws.Int32(pageSize)})
	for gp.HasMorePages() {
		page, err := call(ctx, c, "listing IAM groups", func(ctx context.Context) (*iam.ListGroupsOutput, error) { return gp.NextPage(ctx) })
		if err != nil {
			return nil, err
		}
		groups = append(groups, page.Groups...)
	}

	perUser := make([][]app.Observation, len(users))
	perGroup := make([]app.Observation, len(groups))
	err := forEach(ctx, inventoryWorkers, len(users)+len(groups), func(ctx context.Context, i int) error {
		if i < len(users) {
			obs, err := c.observeUser(ctx, users[i])
			perUser[i] = obs
			return err
		}
		obs, err := c.observeGroup(ctx, groups[i-len(users)])
		perGroup[i-len(users)] = obs
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]app.Observation, 0, len(users)*3+len(groups))
	for _, o := range perUser {
		out = append(out, o...)
	}
	out = append(out, perGroup...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].ExternalID < out[j].ExternalID
	})
	return out, nil
}

// forEach runs fn for 0..n-1 on up to workers goroutines and returns the
// first error, cancelling the rest.
func forEach(ctx context.Context, workers, n int, fn func(context.Context, int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	for w := 0; w < min(workers, n); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(ctx, i); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func rfc3339(t *time.Time) any {
	if t == nil || t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

// observeUser reads one user's keys, policies and groups.
func (c *conn) observeUser(ctx context.Context, u types.User) ([]app.Observation, error) {
	name := aws.ToString(u.UserName)
	keys, err := c.listKeys(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]app.Observation, 0, 1+len(keys))
	for _, k := range keys {
		id := aws.ToString(k.AccessKeyId)
		lu, err := c.keyLastUsed(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, keyObservation(name, k, lu))
	}
	uo, err := c.userObservation(ctx, u)
	if err != nil {
		return nil, err
	}
	return append(out, uo), nil
}

// keyLastUsed reads when a key was last used, and by which user's key it is.
func (c *conn) keyLastUsed(ctx context.Context, id string) (*iam.GetAccessKeyLastUsedOutput, error) {
	return call(ctx, c, "reading when access key "+id+" was last used", func(ctx context.Context) (*iam.GetAccessKeyLastUsedOutput, error) {
		return c.iam.GetAccessKeyLastUsed(ctx, &iam.GetAccessKeyLastUsedInput{AccessKeyId: aws.String(id)})
	})
}

// keyObservation is an access key of user name as a sync reports it.
func keyObservation(name string, k types.AccessKeyMetadata, lu *iam.GetAccessKeyLastUsedOutput) app.Observation {
	id := aws.ToString(k.AccessKeyId)
	var last *time.Time
	service := ""
	if lu.AccessKeyLastUsed != nil {
		last = lu.AccessKeyLastUsed.LastUsedDate
		if s := aws.ToString(lu.AccessKeyLastUsed.ServiceName); s != "N/A" {
			service = s
		}
	}
	return app.Observation{Kind: KindAccessKey, ExternalID: id, Name: name + "/" + id, Attributes: map[string]any{
		"user_name": name, "status": string(k.Status), "created": rfc3339(k.CreateDate),
		"last_used": rfc3339(last), "last_used_service": service,
	}}
}

// userObservation is a user (without its keys) as a sync reports it: its
// policies and groups.
func (c *conn) userObservation(ctx context.Context, u types.User) (app.Observation, error) {
	name := aws.ToString(u.UserName)
	attached, err := c.attachedPolicies(ctx, name)
	if err != nil {
		return app.Observation{}, err
	}
	policyARNs := make([]string, 0, len(attached))
	for _, p := range attached {
		policyARNs = append(policyARNs, aws.ToString(p.PolicyArn))
	}
	inline, admin, err := c.inlinePolicies(ctx, name)
	if err != nil {
		return app.Observation{}, err
	}
	groups, err := c.groupsOf(ctx, name)
	if err != nil {
		return app.Observation{}, err
	}
	if groups == nil {
		groups = []string{}
	}
	sort.Strings(policyARNs)
	sort.Strings(groups)
	return app.Observation{Kind: KindUser, ExternalID: aws.ToString(u.Arn), Name: name, Attributes: map[string]any{
		"user_name": name, "arn": aws.ToString(u.Arn), "created": rfc3339(u.CreateDate), "groups": groups,
		"attached_policies": policyARNs, "inline_policies": inline, "inline_admin": admin,
	}}, nil
}

// inlinePolicies lists a user's inline policy names and says whether one
// of them allows every action on every resource.
func (c *conn) inlinePolicies(ctx context.Context, user string) ([]string, bool, error) {
	names := []string{}
	p := iam.NewListUserPoliciesPaginator(c.iam, &iam.ListUserPoliciesInput{UserName: aws.String(user)})
	for p.HasMorePages() {
		page, err := call(ctx, c, "listing the inline policies of IAM user "+user, func(ctx context.Context) (*iam.ListUserPoliciesOutput, error) {
			return p.NextPage(ctx)
		})
		if err != nil {
			return nil, false, err
		}
		names = append(names, page.PolicyNames...)
	}
	admin := false
	for _, n := range names {
		doc, err := call(ctx, c, "reading inline policy "+n+" of IAM user "+user, func(ctx context.Context) (*iam.GetUserPolicyOutput, error) {
			return c.iam.GetUserPolicy(ctx, &iam.GetUserPolicyInput{UserName: aws.String(user), PolicyName: aws.String(n)})
		})
		if err != nil {
			return nil, false, err
		}
		admin = admin || allowsAllOnAll(aws.ToString(doc.PolicyDocument))
	}
	sort.Strings(names)
	return names, admin, nil
}

// allowsAllOnAll reports whether a policy document has an Allow statement
// with Action "*" (or "*:*") on Resource "*". IAM returns documents
// URL-encoded (RFC 3986); conditions are ignored, erring on the side of
// reporting.
func allowsAllOnAll(doc string) bool {
	if d, err := url.PathUnescape(doc); err == nil {
		doc = d
	}
	var pd struct {
		Statement json.RawMessage `json:"Statement"`
	}
	if json.Unmarshal([]byte(doc), &pd) != nil {
		return false
	}
	type statement struct {
		Effect   string          `json:"Effect"`
		Action   json.RawMessage `json:"Action"`
		Resource json.RawMessage `json:"Resource"`
	}
	var stmts []statement
	if json.Unmarshal(pd.Statement, &stmts) != nil {
		var one statement
		if json.Unmarshal(pd.Statement, &one) != nil {
			return false
		}
		stmts = []statement{one}
	}
	for _, s := range stmts {
		if strings.EqualFold(s.Effect, "Allow") && anyOf(s.Action, "*", "*:*") && anyOf(s.Resource, "*") {
			return true
		}
	}
	return false
}

// anyOf says whether a string-or-list JSON value holds one of want.
func anyOf(raw json.RawMessage, want ...string) bool {
	var list []string
	if json.Unmarshal(raw, &list) != nil {
		var one string
		if json.Unmarshal(raw, &one) != nil {
			return false
		}
		list = []string{one}
	}
	for _, v := range list {
		if contains(want, strings.TrimSpace(v)) {
			return true
		}
	}
	return false
}

// observeGroup reads one group's attached policies.
func (c *conn) observeGroup(ctx context.Context, g types.Group) (app.Observation, error) {
	name := aws.ToString(g.GroupName)
	arns := []string{}
	p := iam.NewListAttachedGroupPoliciesPaginator(c.iam, &iam.ListAttachedGroupPoliciesInput{GroupName: aws.String(name)})
	for p.HasMorePages() {
		page, err := call(ctx, c, "listing the policies attached to IAM group "+name, func(ctx context.Context) (*iam.ListAttachedGroupPoliciesOutput, error) {
			return p.NextPage(ctx)
		})
		if err != nil {
			return app.Observation{}, err
		}
		for _, ap := range page.AttachedPolicies {
			arns = append(arns, aws.ToString(ap.PolicyArn))
		}
	}
	sort.Strings(arns)
	return app.Observation{Kind: KindGroup, ExternalID: aws.ToString(g.Arn), Name: name, Attributes: map[string]any{
		"group_name": name, "attached_policies": arns,
	}}, nil
}
