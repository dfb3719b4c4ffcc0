package aws

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/aws/awstest"
)

func TestInventory(t *testing.T) {
	e := newEnv(t)
	aliceARN := e.srv.CreateUser(t, "alice")
	e.srv.CreateUser(t, "bob")
	k1, _ := e.srv.CreateAccessKey(t, "alice")
	k2, _ := e.srv.CreateAccessKey(t, "alice")
	used := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	e.srv.SetLastUsed(k1, used, "s3")
	e.Exec(t, "aws.iam.access_key.deactivate", mustJSON(t, map[string]string{"user_name": "alice", "access_key_id": k2}))
	e.srv.AttachUserPolicy(t, "alice", "arn:aws:iam::aws:policy/IAMFullAccess")
	e.srv.PutUserPolicy(t, "alice", "god", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":["*"],"Resource":"*"}}`)
	e.srv.PutUserPolicy(t, "bob", "read", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}`)
	devsARN := e.srv.CreateGroup(t, "devs")
	e.srv.AttachGroupPolicy(t, "devs", "arn:aws:iam::aws:policy/ReadOnlyAccess")
	e.srv.AddUserToGroup(t, "alice", "devs")

	before := e.conn.Calls()
	obs, err := e.conn.Inventory(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	calls := e.conn.Calls() - before
	byID := map[string]app.Observation{}
	for _, o := range obs {
		byID[o.ExternalID] = o
	}
	// 3 users (alice, bob, nexplane), 3 keys, 1 group.
	if len(obs) != 7 {
		t.Fatalf("%d observations: %+v", len(obs), obs)
	}
	alice := byID[aliceARN]
	if alice.Kind != KindUser || alice.Name != "alice" {
		t.Fatalf("alice = %+v", alice)
	}
	wantJSON(t, alice.Attributes, map[string]any{"user_name": "alice", "arn": aliceARN, "groups": []any{"devs"},
		"attached_policies": []any{"arn:aws:iam::aws:policy/IAMFullAccess"}, "inline_policies": []any{"god"}, "inline_admin": true})
	if _, err := time.Parse(time.RFC3339, alice.Attributes["created"].(string)); err != nil {
		t.Errorf("created = %v", alice.Attributes["created"])
	}
	bob := obs[indexName(obs, KindUser, "bob")]
	wantJSON(t, bob.Attributes, map[string]any{"groups": []any{}, "attached_policies": []any{}, "inline_policies": []any{"read"}, "inline_admin": false})

	key1 := byID[k1]
	if key1.Kind != KindAccessKey || key1.Name != "alice/"+k1 {
		t.Fatalf("key1 = %+v", key1)
	}
	wantJSON(t, key1.Attributes, map[string]any{"user_name": "alice", "status": "Active", "last_used": "2025-03-04T05:06:07Z", "last_used_service": "s3"})
	wantJSON(t, byID[k2].Attributes, map[string]any{"status": "Inactive", "last_used": nil, "last_used_service": ""})
	wantJSON(t, byID[devsARN].Attributes, map[string]any{"group_name": "devs", "attached_policies": []any{"arn:aws:iam::aws:policy/ReadOnlyAccess"}})
	// The connector's own key was used to sign this very sync.
	if own := byID[e.srv.ConnectorAccessKeyID]; own.Attributes["last_used"] == nil || own.Attributes["last_used_service"] != "iam" {
		t.Errorf("own key = %+v", own.Attributes)
	}
	t.Logf("inventory of %d observations took %d API calls", len(obs), calls)

	// A failure anywhere fails the whole sync (no partial lists).
	e.srv.FailNext("ListGroupsForUser", "AccessDenied")
	_, err = e.conn.Inventory(testCtx(t))
	wantErr(t, err, app.EFORBIDDEN, "listing the groups of IAM user")
}

func indexName(obs []app.Observation, kind, name string) int {
	for i, o := range obs {
		if o.Kind == kind && o.Name == name {
			return i
		}
	}
	return -1
}

// wantJSON compares the given attributes after a JSON round trip (as the
// store will see them).
func wantJSON(t *testing.T, attrs map[string]any, want map[string]any) {
	t.Helper()
	b, err := json.Marshal(attrs)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		gb, _ := json.Marshal(got[k])
		wb, _ := json.Marshal(v)
		if _, ok := got[k]; !ok || string(gb) != string(wb) {
			t.Errorf("attribute %s = %s, want %s (all: %s)", k, gb, wb, b)
		}
	}
}

func TestAllowsAllOnAll(t *testing.T) {
	t.Parallel()
	for doc, want := range map[string]bool{
		`{"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}}`:                                                 true,
		`{"Statement":[{"Effect":"Allow","Action":["s3:*","*:*"],"Resource":["arn:x","*"]}]}`:                          true,
		"%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22*%22%2C%22Resource%22%3A%22*%22%7D%7D": true,
		`{"Statement":{"Effect":"Deny","Action":"*","Resource":"*"}}`:                                                  false,
		`{"Statement":{"Effect":"Allow","Action":"s3:*","Resource":"*"}}`:                                              false,
		`{"Statement":{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/*"}}`:                                  false,
		`not json`: false,
	} {
		if got := allowsAllOnAll(doc); got != want {
			t.Errorf("%s: %v, want %v", doc, got, want)
		}
	}
}

// BenchmarkInventory times one full sync of an account seeded with
// NEXPLANE_BENCH_IAM_USERS users (default 2000), two keys each, through
// the shim and kumo, and reports the API calls it made.
func BenchmarkInventory(b *testing.B) {
	users := 2000
	if v := os.Getenv("NEXPLANE_BENCH_IAM_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			b.Fatalf("NEXPLANE_BENCH_IAM_USERS=%q: want a positive number", v)
		}
		users = n
	}
	srv := awstest.Start(b)
	seedStart := time.Now()
	srv.SeedUsers(b, users, 2)
	b.Logf("seeded %d users and %d keys in %v", users, 2*users, time.Since(seedStart).Round(time.Millisecond))
	ac, err := testDriver.Connect(context.Background(), srv.ConfigJSON(), srv.CredentialsJSON())
	if err != nil {
		b.Fatal(err)
	}
	c := ac.(*conn)
	b.ResetTimer()
	var calls int64
	var n int
	for i := 0; i < b.N; i++ {
		before := c.Calls()
		obs, err := c.Inventory(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		calls += c.Calls() - before
		n = len(obs)
	}
	b.StopTimer()
	b.ReportMetric(float64(calls)/float64(b.N), "calls/sync")
	b.ReportMetric(float64(n), "assets/sync")
}
