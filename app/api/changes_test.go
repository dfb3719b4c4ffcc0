package api_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

// TestEveryLDAPOperationThroughTheAPI runs each operation type through the
// whole review path and reads the directory afterwards.
func TestEveryLDAPOperationThroughTheAPI(t *testing.T) {
	e := newChangeEnv(t)
	var secrets []string

	// Create carol in devs; her generated password is shown once to the requester only.
	id, body := e.run(op("ldap.user.create", map[string]any{"uid": "carol", "cn": "Carol Doe", "sn": "Doe", "mail": "carol@example.org", "groups": []string{"devs"}}))
	if body["status"] != "succeeded" {
		t.Fatalf("user.create: %v", body)
	}
	if st, _ := e.do("POST", fmt.Sprintf("/api/v1/change-requests/%d/operations/%d/reveal", id,
		int64(body["operations"].([]any)[0].(map[string]any)["id"].(float64))), e.tokens["appr"], nil); st != http.StatusForbidden {
		t.Errorf("reveal by someone else: %d, want 403", st)
	}
	carolPW := e.reveal("op", id, body)
	secrets = append(secrets, carolPW)
	if err := e.dir.CanBind(e.userDN("carol"), carolPW); err != nil {
		t.Errorf("carol cannot bind with the revealed password: %v", err)
	}
	if !e.isMember("devs", "carol") {
		t.Error("carol not in devs")
	}

	steps := []struct {
		name  string
		op    map[string]any
		check func() error
	}{
		{"disable bob", op("ldap.user.disable", map[string]any{"uid": "bob"}), func() error {
			if e.entry(e.userDN("bob")).GetAttributeValue("pwdAccountLockedTime") == "" {
				return fmt.Errorf("bob has no pwdAccountLockedTime")
			}
			if e.dir.CanBind(e.userDN("bob"), e.dir.UserPasswords["bob"]) == nil {
				return fmt.Errorf("locked bob can still bind")
			}
			return nil
		}},
		{"enable bob", op("ldap.user.enable", map[string]any{"uid": "bob"}), func() error {
			if v := e.entry(e.userDN("bob")).GetAttributeValue("pwdAccountLockedTime"); v != "" {
				return fmt.Errorf("bob still locked: %q", v)
			}
			return e.dir.CanBind(e.userDN("bob"), e.dir.UserPasswords["bob"])
		}},
		{"add bob to admins", op("ldap.group.add_member", map[string]any{"group": "admins", "uid": "bob"}), func() error {
			if !e.isMember("admins", "bob") {
				return fmt.Errorf("bob not in admins")
			}
			return nil
		}},
		{"remove bob from admins", op("ldap.group.remove_member", map[string]any{"group": "admins", "uid": "bob"}), func() error {
			if e.isMember("admins", "bob") {
				return fmt.Errorf("bob still in admins")
			}
			return nil
		}},
		{"delete carol", op("ldap.user.delete", map[string]any{"uid": "carol"}), func() error {
			if e.entry(e.userDN("carol")) != nil {
				return fmt.Errorf("carol still exists")
			}
			if e.isMember("devs", "carol") {
				return fmt.Errorf("carol still listed in devs")
			}
			return nil
		}},
	}
	for _, s := range steps {
		_, body := e.run(s.op)
		if body["status"] != "succeeded" {
			t.Fatalf("%s: %v", s.name, body)
		}
		if err := s.check(); err != nil {
			t.Errorf("%s: %v", s.name, err)
		}
	}

	// Reset alice's password: the new one binds, the old one no longer does.
	id, body = e.run(op("ldap.user.reset_password", map[string]any{"uid": "alice"}))
	if body["status"] != "succeeded" {
		t.Fatalf("reset_password: %v", body)
	}
	alicePW := e.reveal("op", id, body)
	secrets = append(secrets, alicePW)
	if err := e.dir.CanBind(e.userDN("alice"), alicePW); err != nil {
		t.Errorf("alice cannot bind with the new password: %v", err)
	}
	if e.dir.CanBind(e.userDN("alice"), e.dir.UserPasswords["alice"]) == nil {
		t.Error("alice's old password still binds")
	}

	// Rotate the connector's own credentials: the old bind password dies,
	// the connector keeps working with the new one it stored.
	_, before := e.do("GET", fmt.Sprintf("/api/v1/connectors/%d", e.connID), e.tokens["admin"], nil)
	_, body = e.run(op("connector.rotate_credentials", map[string]any{}))
	if body["status"] != "succeeded" {
		t.Fatalf("rotate_credentials: %v", body)
	}
	if e.dir.CanBind(e.dir.BindDN, e.dir.BindPassword) == nil {
		t.Error("the old bind password still works after rotation")
	}
	st, after := e.do("GET", fmt.Sprintf("/api/v1/connectors/%d", e.connID), e.tokens["admin"], nil)
	if st != 200 || after["credentials_updated_at"] == before["credentials_updated_at"] {
		t.Errorf("credentials_updated_at did not move: %v -> %v", before["credentials_updated_at"], after["credentials_updated_at"])
	}
	st, test := e.do("POST", fmt.Sprintf("/api/v1/connectors/%d/test", e.connID), e.tokens["admin"], nil)
	if st != 200 || test["ok"] != true {
		t.Errorf("connector test after rotation: %d %v", st, test)
	}

	// No secret reached an API response, the audit log or the database file.
	secrets = append(secrets, e.dir.BindPassword)
	e.assertSecretsNowhere(secrets)
}

// TestConcurrentTransitionsRace fires the same transition from many clients
// at once: exactly one wins, the others get 409, and the audit log records
// one transition.
func TestConcurrentTransitionsRace(t *testing.T) {
	e := newChangeEnv(t)
	id := e.create("op", op("ldap.user.disable", map[string]any{"uid": "bob"}))
	e.mustAction("op", id, "submit", nil, "submitted")

	race := func(n int, who []string, action string, body any) (wins, conflicts int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := 0; i < n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				st, _ := e.action(who[i%len(who)], id, action, body)
				mu.Lock()
				defer mu.Unlock()
				switch st {
				case http.StatusOK:
					wins++
				case http.StatusConflict:
					conflicts++
				default:
					t.Errorf("%s: unexpected status %d", action, st)
				}
			}()
		}
		close(start)
		wg.Wait()
		return wins, conflicts
	}
	if w, c := race(6, []string{"appr", "appr2"}, "approve", map[string]string{"comment": "go"}); w != 1 || c != 5 {
		t.Errorf("concurrent approvals: %d won, %d conflicts; want 1 and 5", w, c)
	}
	if w, c := race(6, []string{"op", "op2", "admin"}, "execute", nil); w != 1 || c != 5 {
		t.Errorf("concurrent executes: %d won, %d conflicts; want 1 and 5", w, c)
	}
	body := e.waitDone(id)
	if body["status"] != "succeeded" || len(body["approvals"].([]any)) != 1 {
		t.Errorf("after the race: %v with %d approvals", body["status"], len(body["approvals"].([]any)))
	}
	for _, ev := range []string{"change.approved", "change.execution_started", "change.operation_succeeded"} {
		evs, err := e.db.ListAudit(context.Background(), app.AuditFilter{ResourceType: "change_request", ResourceID: fmt.Sprint(id), Event: ev})
		if err != nil || len(evs) != 1 {
			t.Errorf("%s recorded %d times (%v), want once", ev, len(evs), err)
		}
	}
}

// TestOperationTimeout hangs the directory mid-run: the operation in flight
// fails after the configured timeout, the rest are skipped, and the request
// fails with a clear error instead of hanging.
func TestOperationTimeout(t *testing.T) {
	e := newChangeEnvOpts(t, time.Second)
	var ops []map[string]any
	for i := 0; i < 20; i++ {
		typ := "ldap.user.disable"
		if i%2 == 1 {
			typ = "ldap.user.enable"
		}
		ops = append(ops, op(typ, map[string]any{"uid": "bob"}))
	}
	id := e.create("op", ops...)
	e.mustAction("op", id, "submit", nil, "submitted")
	e.mustAction("appr", id, "approve", nil, "approved")
	e.mustAction("op", id, "execute", nil, "executing")
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, body := e.do("GET", fmt.Sprintf("/api/v1/change-requests/%d", id), e.tokens["op"], nil)
		if body["operations"].([]any)[0].(map[string]any)["status"] == "succeeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("first operation never finished")
		}
		time.Sleep(time.Millisecond)
	}
	if err := e.dir.Pause(); err != nil {
		t.Fatal(err)
	}
	defer e.dir.Resume()
	body := e.waitDone(id)
	if body["status"] == "succeeded" {
		t.Skip("all operations finished before the directory was paused; nothing to time out")
	}
	var failed map[string]any
	for _, o := range body["operations"].([]any) {
		if m := o.(map[string]any); m["status"] == "failed" {
			failed = m
		}
	}
	if body["status"] != "failed" || failed == nil || !strings.Contains(fmt.Sprint(failed["error"]), "timed out") {
		t.Errorf("after a hung operation: status %v, failed op %v", body["status"], failed)
	}
}
