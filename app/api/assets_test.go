package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
)

func (e *changeEnv) sync() map[string]any {
	e.t.Helper()
	st, body := e.do("POST", fmt.Sprintf("/api/v1/connectors/%d/sync", e.connID), e.tokens["admin"], nil)
	if st != 200 {
		e.t.Fatalf("sync: %d %v", st, body)
	}
	return body
}

func (e *changeEnv) assetID(kind, name string) int64 {
	e.t.Helper()
	st, body := e.do("GET", "/api/v1/assets?kind="+kind+"&q="+name, e.tokens["viewer"], nil)
	if st != 200 {
		e.t.Fatalf("assets: %d %v", st, body)
	}
	for _, a := range body["assets"].([]any) {
		if m := a.(map[string]any); m["name"] == name {
			return int64(m["id"].(float64))
		}
	}
	e.t.Fatalf("no %s asset named %s in %v", kind, name, body)
	return 0
}

func (e *changeEnv) openDrift() []map[string]any {
	e.t.Helper()
	_, body := e.do("GET", "/api/v1/drift", e.tokens["viewer"], nil)
	var out []map[string]any
	for _, d := range body["drift"].([]any) {
		out = append(out, d.(map[string]any))
	}
	return out
}

func (e *changeEnv) rootModify(dn string, f func(*goldap.ModifyRequest)) {
	e.t.Helper()
	l := e.dir.Admin(e.t)
	req := goldap.NewModifyRequest(dn, nil)
	f(req)
	if err := l.Modify(req); err != nil {
		e.t.Fatal(err)
	}
}

// TestInventoryDriftAndFindings changes the directory behind Nexplane's back
// and through it, and checks what the sync makes of each.
func TestInventoryDriftAndFindings(t *testing.T) {
	e := newChangeEnv(t)
	// admins must keep a member when alice leaves it (groupOfNames).
	e.rootModify(e.groupDN("admins"), func(r *goldap.ModifyRequest) { r.Add("member", []string{e.userDN("bob")}) })

	// First sync: the baseline; nothing is drift yet.
	first := e.sync()
	if first["seen"].(float64) < 4 || first["drift"].(float64) != 0 {
		t.Fatalf("baseline sync: %v", first)
	}
	for _, who := range []string{"viewer", "appr", "op"} {
		if st, _ := e.do("GET", "/api/v1/assets", e.tokens[who], nil); st != 200 {
			t.Errorf("%s reading assets: %d", who, st)
		}
		if st, _ := e.do("POST", fmt.Sprintf("/api/v1/connectors/%d/sync", e.connID), e.tokens[who], nil); st != http.StatusForbidden {
			t.Errorf("%s syncing: %d, want 403", who, st)
		}
	}
	alice := e.assetID("ldap.user", "alice")
	if st, body := e.do("GET", "/api/v1/assets?q=ALI", e.tokens["viewer"], nil); st != 200 || len(body["assets"].([]any)) != 1 {
		t.Errorf("case-insensitive search: %d %v", st, body)
	}

	// Out of band: lock alice directly in the directory.
	e.rootModify(e.userDN("alice"), func(r *goldap.ModifyRequest) { r.Add("pwdAccountLockedTime", []string{"000001010000Z"}) })
	res := e.sync()
	if res["drift"].(float64) != 1 || res["changed"].(float64) != 1 {
		t.Fatalf("sync after out-of-band lock: %v", res)
	}
	drift := e.openDrift()
	if len(drift) != 1 || drift[0]["name"] != "alice" || drift[0]["change"] != "changed" ||
		!strings.Contains(fmt.Sprint(drift[0]["after"]), "locked:true") || !strings.Contains(fmt.Sprint(drift[0]["before"]), "locked:false") {
		t.Fatalf("drift: %v", drift)
	}
	evs, err := e.db.ListAudit(context.Background(), app.AuditFilter{Event: "asset.drift_detected"})
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Payload), `"before"`) {
		t.Errorf("drift audit: %v %v", evs, err)
	}
	// Alice is locked but still in admins: a high finding with its remedy.
	st, asset := e.do("GET", fmt.Sprintf("/api/v1/assets/%d", alice), e.tokens["viewer"], nil)
	if st != 200 {
		t.Fatalf("asset: %d %v", st, asset)
	}
	var locked map[string]any
	for _, f := range asset["findings"].([]any) {
		if m := f.(map[string]any); m["rule"] == "ldap.user.locked_but_privileged" && m["resolved_at"] == nil {
			locked = m
		}
	}
	if locked == nil || locked["severity"] != "high" || locked["remedy"].(map[string]any)["type"] != "ldap.group.remove_member" {
		t.Fatalf("finding on alice: %v", asset["findings"])
	}
	// The remedy goes straight into a change request; after it runs, the
	// finding resolves (the targeted sync after the request already did
	// it) and the change raises no drift.
	rem := locked["remedy"].(map[string]any)
	remedy, body := e.run(map[string]any{"type": rem["type"], "params": rem["params"]})
	if body["status"] != "succeeded" {
		t.Fatalf("remedy: %v", body)
	}
	if p := e.waitTargetedSync(remedy); p["findings_resolved"].(float64) < 1 {
		t.Errorf("targeted sync after the remedy: %v", p)
	}
	res = e.sync()
	if res["drift"].(float64) != 0 {
		t.Errorf("sync after the remedy: %v", res)
	}
	_, asset = e.do("GET", fmt.Sprintf("/api/v1/assets/%d", alice), e.tokens["viewer"], nil)
	for _, f := range asset["findings"].([]any) {
		if m := f.(map[string]any); m["rule"] == "ldap.user.locked_but_privileged" && m["resolved_at"] == nil {
			t.Errorf("finding still open after the remedy: %v", m)
		}
	}

	// A change through Nexplane (disable bob) is never drift, neither in
	// the targeted sync after it nor in the next full sync.
	disable, body := e.run(op("ldap.user.disable", map[string]any{"uid": "bob"}))
	if body["status"] != "succeeded" {
		t.Fatal(body)
	}
	if p := e.waitTargetedSync(disable); p["drift"].(float64) != 0 || p["changed"].(float64) != 1 {
		t.Errorf("targeted sync after a Nexplane change: %v", p)
	}
	if res = e.sync(); res["drift"].(float64) != 0 {
		t.Errorf("sync after a Nexplane change: %v", res)
	}

	// An account appears and disappears outside Nexplane.
	l := e.dir.Admin(t)
	add := goldap.NewAddRequest(e.userDN("mallory"), nil)
	add.Attribute("objectClass", []string{"inetOrgPerson"})
	add.Attribute("uid", []string{"mallory"})
	add.Attribute("cn", []string{"Mallory"})
	add.Attribute("sn", []string{"M"})
	if err := l.Add(add); err != nil {
		t.Fatal(err)
	}
	if res = e.sync(); res["drift"].(float64) != 1 || res["appeared"].(float64) != 1 {
		t.Errorf("sync after an out-of-band add: %v", res)
	}
	if err := l.Del(goldap.NewDelRequest(e.userDN("mallory"), nil)); err != nil {
		t.Fatal(err)
	}
	if res = e.sync(); res["drift"].(float64) != 1 || res["disappeared"].(float64) != 1 {
		t.Errorf("sync after an out-of-band delete: %v", res)
	}
	if st, body := e.do("GET", "/api/v1/assets?q=mallory", e.tokens["viewer"], nil); st != 200 || len(body["assets"].([]any)) != 0 {
		t.Errorf("gone asset listed by default: %v", body)
	}
	if st, body := e.do("GET", "/api/v1/assets?q=mallory&include_gone=true", e.tokens["viewer"], nil); st != 200 || len(body["assets"].([]any)) != 1 {
		t.Errorf("gone asset with include_gone: %v", body)
	}

	// Drift stays until acknowledged; viewers cannot acknowledge.
	drift = e.openDrift()
	if len(drift) != 3 {
		t.Fatalf("open drift = %d, want 3", len(drift))
	}
	path := fmt.Sprintf("/api/v1/drift/%v/acknowledge", drift[0]["id"])
	if st, _ := e.do("POST", path, e.tokens["viewer"], map[string]string{"comment": "seen"}); st != http.StatusForbidden {
		t.Errorf("viewer acknowledging: %d", st)
	}
	if st, body := e.do("POST", path, e.tokens["op"], map[string]string{"comment": "HR confirmed"}); st != 200 || body["ack_comment"] != "HR confirmed" {
		t.Errorf("acknowledge: %d %v", st, body)
	}
	if st, _ := e.do("POST", path, e.tokens["appr"], nil); st != http.StatusConflict {
		t.Errorf("second acknowledge: %d, want 409", st)
	}
	if n := len(e.openDrift()); n != 2 {
		t.Errorf("open drift after acknowledging one = %d", n)
	}

	// Passwords older than the policy are findings (clock moved 100 days on).
	if _, body := e.run(op("ldap.user.reset_password", map[string]any{"uid": "alice"})); body["status"] != "succeeded" {
		t.Fatal(body)
	}
	e.clock.Advance(100 * 24 * time.Hour)
	e.sync()
	st, fs := e.do("GET", "/api/v1/findings?asset="+fmt.Sprint(alice), e.tokens["viewer"], nil)
	if st != 200 || !strings.Contains(fmt.Sprint(fs), "ldap.user.password_too_old") {
		t.Errorf("password age finding: %d %v", st, fs)
	}
}

// TestRevokeNow: an admin's revoke runs at once as an emergency change; an
// operator's is submitted and waits for an approval.
func TestRevokeNow(t *testing.T) {
	e := newChangeEnv(t)
	e.sync()
	bob := e.assetID("ldap.user", "bob")
	st, body := e.do("POST", fmt.Sprintf("/api/v1/assets/%d/revoke", bob), e.tokens["admin"], map[string]string{"reason": "laptop stolen"})
	if st != http.StatusCreated || body["status"] != "executing" || body["emergency"] == nil {
		t.Fatalf("admin revoke: %d %v", st, body)
	}
	done := e.waitDone(int64(body["id"].(float64)))
	if done["status"] != "succeeded" {
		t.Fatalf("revoke ran: %v", done)
	}
	if e.dir.CanBind(e.userDN("bob"), e.dir.UserPasswords["bob"]) == nil {
		t.Error("bob can still bind after revoke now")
	}
	evs, _ := e.db.ListAudit(context.Background(), app.AuditFilter{ResourceType: "change_request", ResourceID: fmt.Sprint(done["id"])})
	if len(evs) < 5 {
		t.Errorf("revoke left %d audit records, want the whole path", len(evs))
	}

	alice := e.assetID("ldap.user", "alice")
	st, body = e.do("POST", fmt.Sprintf("/api/v1/assets/%d/revoke", alice), e.tokens["op"], nil)
	if st != http.StatusCreated || body["status"] != "submitted" {
		t.Fatalf("operator revoke: %d %v", st, body)
	}
	if st, _ := e.do("POST", fmt.Sprintf("/api/v1/assets/%d/revoke", alice), e.tokens["viewer"], nil); st != http.StatusForbidden {
		t.Errorf("viewer revoke: %d", st)
	}
	group := e.assetID("ldap.group", "devs")
	if st, body := e.do("POST", fmt.Sprintf("/api/v1/assets/%d/revoke", group), e.tokens["admin"], nil); st != http.StatusBadRequest {
		t.Errorf("revoking a group: %d %v", st, body)
	}
}
