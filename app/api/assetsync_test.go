package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	goldap "github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/internal/testkit"
)

// fullSync runs the connector's full sync as the admin (the baseline).
func (e *changeEnv) fullSync() {
	e.t.Helper()
	if st, body := e.do("POST", fmt.Sprintf("/api/v1/connectors/%d/sync", e.connID), e.tokens["admin"], nil); st != http.StatusOK {
		e.t.Fatalf("full sync: %d %v", st, body)
	}
}

// syncState is the connector's full-sync bookkeeping; a targeted sync
// must leave it as it was.
func (e *changeEnv) syncState() app.SyncState {
	e.t.Helper()
	st, err := e.svc.SyncState(context.Background(), app.SystemActor("test"), e.connID)
	if err != nil {
		e.t.Fatal(err)
	}
	return *st
}

// asset finds the connector's asset with that external id (gone ones
// included), nil when there is none.
func (e *changeEnv) asset(externalID string) map[string]any {
	e.t.Helper()
	q := url.Values{"q": {externalID}, "include_gone": {"true"}, "connector": {fmt.Sprint(e.connID)}}
	st, body := e.do("GET", "/api/v1/assets?"+q.Encode(), e.tokens["viewer"], nil)
	if st != http.StatusOK {
		e.t.Fatalf("list assets: %d %v", st, body)
	}
	for _, a := range body["assets"].([]any) {
		if m := a.(map[string]any); strings.EqualFold(m["external_id"].(string), externalID) {
			return m
		}
	}
	return nil
}

// waitTargetedSync waits for the audit record of the targeted sync that
// followed change request id, and returns its payload.
func (e *changeEnv) waitTargetedSync(id int64) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		evs, err := e.db.ListAudit(context.Background(), app.AuditFilter{Event: "connector.assets_synced", Limit: 100})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, ev := range evs {
			var p map[string]any
			if json.Unmarshal(ev.Payload, &p) == nil && p["change_id"] == float64(id) {
				return p
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("no targeted sync after change %d within 30s", id)
	return nil
}

// driftOf lists the open drift records of an external id.
func (e *changeEnv) driftOf(externalID string) []map[string]any {
	e.t.Helper()
	st, body := e.do("GET", fmt.Sprintf("/api/v1/drift?connector=%d", e.connID), e.tokens["viewer"], nil)
	if st != http.StatusOK {
		e.t.Fatalf("list drift: %d %v", st, body)
	}
	var out []map[string]any
	for _, d := range body["drift"].([]any) {
		if m := d.(map[string]any); strings.EqualFold(m["external_id"].(string), externalID) {
			out = append(out, m)
		}
	}
	return out
}

func (e *changeEnv) mustSucceed(ops ...map[string]any) int64 {
	e.t.Helper()
	id, body := e.run(ops...)
	if body["status"] != "succeeded" {
		e.t.Fatalf("change %d: %v", id, body)
	}
	return id
}

func allowed(a map[string]any, action string) bool {
	for _, x := range a["allowed_actions"].([]any) {
		if x == action {
			return true
		}
	}
	return false
}

// syncAsset is POST /api/v1/assets/{id}/sync as who.
func (e *changeEnv) syncAsset(who string, a map[string]any) (int, map[string]any) {
	e.t.Helper()
	return e.do("POST", fmt.Sprintf("/api/v1/assets/%v/sync", a["id"]), e.tokens[who], nil)
}

// checkSyncPermissions: operators and admins may sync an asset, and it is
// in their allowed_actions; approvers and viewers are refused and not
// offered it.
func (e *changeEnv) checkSyncPermissions(a map[string]any) {
	e.t.Helper()
	for _, tc := range []struct {
		who  string
		want int
	}{{"viewer", http.StatusForbidden}, {"appr", http.StatusForbidden}, {"op", http.StatusOK}, {"admin", http.StatusOK}} {
		st, body := e.do("GET", fmt.Sprintf("/api/v1/assets/%v", a["id"]), e.tokens[tc.who], nil)
		if st != http.StatusOK {
			e.t.Fatalf("get asset as %s: %d %v", tc.who, st, body)
		}
		if got := allowed(body["asset"].(map[string]any), app.ActionSync); got != (tc.want == http.StatusOK) {
			e.t.Errorf("%s: sync in allowed_actions = %v", tc.who, got)
		}
		st, body = e.syncAsset(tc.who, a)
		if st != tc.want {
			e.t.Errorf("sync as %s: %d %v, want %d", tc.who, st, body, tc.want)
		}
		if st == http.StatusForbidden && errCode(body) != "forbidden" {
			e.t.Errorf("sync as %s: error %v", tc.who, body)
		}
	}
}

// TestTargetedSyncLDAP: on slapd, a user created through a change request
// is an asset as soon as the request succeeded, deleted it is gone, both
// without the full sync running; an entry changed in the directory shows
// after "sync this asset", as drift.
func TestTargetedSyncLDAP(t *testing.T) {
	testkit.BothDrivers(t, func(t *testing.T, driver string) {
		e := newChangeEnvWith(t, 0, driver)
		e.fullSync()
		baseline := e.syncState()
		carolDN := strings.ToLower(e.userDN("carol"))

		id := e.mustSucceed(op("ldap.user.create", map[string]any{"uid": "carol", "cn": "Carol Doe", "sn": "Doe",
			"mail": "carol@example.org", "groups": []string{"devs"}}))
		p := e.waitTargetedSync(id)
		carol := e.asset(carolDN)
		if carol == nil || carol["gone_at"] != nil {
			t.Fatalf("carol after the create: %v (targeted sync %v)", carol, p)
		}
		var attrs map[string]any
		_ = json.Unmarshal(mustJSON(t, carol["attributes"]), &attrs)
		if attrs["cn"] != "Carol Doe" || !slices.Contains(toStrings(attrs["groups"]), "devs") {
			t.Errorf("carol's attributes %v", attrs)
		}
		// The group the request changed was re-read too.
		devs := e.asset(strings.ToLower(e.groupDN("devs")))
		_ = json.Unmarshal(mustJSON(t, devs["attributes"]), &attrs)
		if !slices.Contains(toStrings(attrs["members"]), carolDN) {
			t.Errorf("devs members %v lack carol", attrs["members"])
		}
		if d := e.driftOf(carolDN); len(d) != 0 {
			t.Errorf("a change made through Nexplane recorded as drift: %v", d)
		}
		if p["appeared"] != float64(1) || p["drift"] != float64(0) {
			t.Errorf("targeted sync payload %v", p)
		}
		if got := e.syncState(); got != baseline {
			t.Errorf("the full sync ran: %+v, was %+v", got, baseline)
		}

		id = e.mustSucceed(op("ldap.user.delete", map[string]any{"uid": "carol"}))
		e.waitTargetedSync(id)
		if carol = e.asset(carolDN); carol == nil || carol["gone_at"] == nil {
			t.Fatalf("carol after the delete: %v", carol)
		}
		if got := e.syncState(); got != baseline {
			t.Errorf("the full sync ran: %+v, was %+v", got, baseline)
		}

		// Out of band: bob's cn changed in the directory.
		bobDN := strings.ToLower(e.userDN("bob"))
		l := e.dir.Admin(t)
		mod := goldap.NewModifyRequest(e.userDN("bob"), nil)
		mod.Replace("cn", []string{"Robert Roe"})
		if err := l.Modify(mod); err != nil {
			t.Fatal(err)
		}
		bob := e.asset(bobDN)
		st, body := e.syncAsset("op", bob)
		if st != http.StatusOK {
			t.Fatalf("sync bob: %d %v", st, body)
		}
		_ = json.Unmarshal(mustJSON(t, body["asset"].(map[string]any)["attributes"]), &attrs)
		if attrs["cn"] != "Robert Roe" {
			t.Errorf("bob after sync: %v", attrs)
		}
		if s := body["sync"].(map[string]any); s["changed"] != float64(1) || s["drift"] != float64(1) {
			t.Errorf("sync result %v", s)
		}
		if d := e.driftOf(bobDN); len(d) != 1 || d[0]["change"] != "changed" {
			t.Errorf("bob's drift %v", d)
		}
		// Alice, not asked for, is untouched: still seen at the full sync.
		alice := e.asset(strings.ToLower(e.userDN("alice")))
		if alice["last_seen"] != rfc3339UTC(baseline.LastFinished) {
			t.Errorf("alice last seen %v, full sync finished %v", alice["last_seen"], baseline.LastFinished)
		}

		e.checkSyncPermissions(bob)
		if got := e.syncState(); got != baseline {
			t.Errorf("the full sync ran: %+v, was %+v", got, baseline)
		}

		// The directory is down: 503, and nothing recorded as a sync.
		e.dir.Stop()
		st, body = e.syncAsset("op", bob)
		if st != http.StatusServiceUnavailable || errCode(body) != "unavailable" {
			t.Errorf("sync with slapd down: %d %v", st, body)
		}
		if got := e.syncState(); got != baseline {
			t.Errorf("a failed targeted sync touched the sync state: %+v", got)
		}
	})
}

// TestTargetedSyncAWS: on kumo, a key created through a change request is
// an asset once the request succeeded, deleted it is gone; a policy
// attached outside Nexplane shows after "sync this asset"; a targeted
// sync that fails leaves the request succeeded.
func TestTargetedSyncAWS(t *testing.T) {
	testkit.BothDrivers(t, func(t *testing.T, driver string) {
		e := newAWSEnvOn(t, driver)
		userARN := e.aws.CreateUser(t, "deploy")
		e.fullSync()
		baseline := e.syncState()

		id := e.mustSucceed(op("aws.iam.access_key.create", map[string]any{"user_name": "deploy"}))
		e.waitTargetedSync(id)
		var keyID string
		for k := range e.keys("deploy") {
			keyID = k
		}
		key := e.asset(keyID)
		if key == nil || key["gone_at"] != nil || key["kind"] != "aws.iam.access_key" {
			t.Fatalf("key %s after the create: %v", keyID, key)
		}
		if got := e.syncState(); got != baseline {
			t.Errorf("the full sync ran: %+v, was %+v", got, baseline)
		}

		id = e.mustSucceed(op("aws.iam.access_key.delete", map[string]any{"user_name": "deploy", "access_key_id": keyID}))
		e.waitTargetedSync(id)
		if key = e.asset(keyID); key == nil || key["gone_at"] == nil {
			t.Fatalf("key after the delete: %v", key)
		}

		// Out of band: a managed policy attached in IAM directly.
		const policy = "arn:aws:iam::aws:policy/ReadOnlyAccess"
		if _, err := e.aws.Admin().AttachUserPolicy(context.Background(), &iam.AttachUserPolicyInput{
			UserName: awssdk.String("deploy"), PolicyArn: awssdk.String(policy)}); err != nil {
			t.Fatal(err)
		}
		user := e.asset(userARN)
		if user == nil {
			t.Fatalf("no asset for %s", userARN)
		}
		st, body := e.syncAsset("op", user)
		if st != http.StatusOK {
			t.Fatalf("sync user: %d %v", st, body)
		}
		var attrs map[string]any
		_ = json.Unmarshal(mustJSON(t, body["asset"].(map[string]any)["attributes"]), &attrs)
		if !slices.Contains(toStrings(attrs["attached_policies"]), policy) {
			t.Errorf("user after sync: %v", attrs)
		}
		if d := e.driftOf(userARN); len(d) != 1 || d[0]["change"] != "changed" {
			t.Errorf("user drift %v", d)
		}

		// IAM refuses the targeted sync's read: the request still succeeded,
		// the key waits for the next full sync.
		e.aws.FailNext("GetAccessKeyLastUsed", "InvalidClientTokenId")
		id = e.mustSucceed(op("aws.iam.access_key.create", map[string]any{"user_name": "deploy"}))
		waitLog(t, e.changeEnv, fmt.Sprintf("change_id=%d", id), "targeted sync after success failed")
		st, body = e.do("GET", fmt.Sprintf("/api/v1/change-requests/%d", id), e.tokens["viewer"], nil)
		if st != http.StatusOK || body["status"] != "succeeded" {
			t.Errorf("after a failed targeted sync: %d %v", st, body)
		}
		for k := range e.keys("deploy") {
			if a := e.asset(k); a != nil {
				t.Errorf("key %s synced although IAM refused: %v", k, a)
			}
		}
		if got := e.syncState(); got != baseline {
			t.Errorf("the full sync ran: %+v, was %+v", got, baseline)
		}

		// An unreachable target: 503 for "sync this asset".
		e.aws.FailNext("GetUser", "InvalidClientTokenId")
		if st, body := e.syncAsset("op", user); st != http.StatusServiceUnavailable || errCode(body) != "unavailable" {
			t.Errorf("sync with IAM refusing: %d %v", st, body)
		}
	})
}

// waitLog waits until one logged line holds every part.
func waitLog(t *testing.T, e *changeEnv, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(string(e.logs.Bytes()), "\n") {
			ok := true
			for _, p := range parts {
				ok = ok && strings.Contains(line, p)
			}
			if ok {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log line with %q within 30s", parts)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func toStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func rfc3339UTC(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
