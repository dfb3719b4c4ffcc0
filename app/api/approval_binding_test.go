package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// lastAudit is the newest audit payload of event on change request id.
func (e *changeEnv) lastAudit(id int64, event string) map[string]any {
	e.t.Helper()
	evs, err := e.db.ListAudit(context.Background(), app.AuditFilter{ResourceType: "change_request",
		ResourceID: fmt.Sprint(id), Event: event, Limit: 1})
	if err != nil || len(evs) != 1 {
		e.t.Fatalf("audit %s of change %d: %v, %v", event, id, evs, err)
	}
	var p map[string]any
	if err := json.Unmarshal(evs[0].Payload, &p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// TestApprovalPinnedToRevision: an approve or reject names the revision the
// approver read; one that changed since is refused with revision_mismatch
// and the current revision, and a decision records what it signed.
func TestApprovalPinnedToRevision(t *testing.T) {
	e := newChangeEnv(t)
	id := e.create("op", op("ldap.user.disable", map[string]any{"uid": "bob"}))
	e.mustAction("op", id, "submit", nil, "submitted")
	path := fmt.Sprintf("/api/v1/change-requests/%d", id)

	// The approver opened revision 1; the author edits it meanwhile.
	if st, body := e.do("PATCH", path, e.tokens["op"], map[string]any{
		"operations": []any{op("ldap.user.disable", map[string]any{"uid": "alice"})}}); st != 200 || body["revision"].(float64) != 2 {
		t.Fatalf("edit: %d %v", st, body)
	}
	e.mustAction("op", id, "submit", nil, "submitted")

	for _, tc := range []struct {
		action string
		body   map[string]any
		status int
		code   string
	}{
		{"approve", map[string]any{"revision": 1, "comment": "saw bob"}, http.StatusConflict, "revision_mismatch"},
		{"reject", map[string]any{"revision": 1, "comment": "saw bob"}, http.StatusConflict, "revision_mismatch"},
		{"approve", map[string]any{"comment": "no revision"}, http.StatusBadRequest, "invalid"},
		{"approve", map[string]any{"revision": 0}, http.StatusBadRequest, "invalid"},
		{"approve", map[string]any{"revision": 3}, http.StatusConflict, "revision_mismatch"},
	} {
		st, body := e.do("POST", path+"/"+tc.action, e.tokens["appr"], tc.body)
		if st != tc.status || errCode(body) != tc.code {
			t.Errorf("%s %v: %d %v, want %d %s", tc.action, tc.body, st, body, tc.status, tc.code)
			continue
		}
		if tc.code == "revision_mismatch" {
			errBody := body["error"].(map[string]any)
			if errBody["current_revision"] != float64(2) || !strings.Contains(errMessage(body), "changed since you opened it") {
				t.Errorf("%s: mismatch error %v", tc.action, errBody)
			}
		}
	}
	if _, got := e.do("GET", path, e.tokens["viewer"], nil); got["status"] != "submitted" || len(got["approvals"].([]any)) != 0 {
		t.Fatalf("a refused decision left a trace: %v", got)
	}

	// The current revision is approved; the approval and its audit record
	// carry what was signed.
	got := e.mustAction("appr", id, "approve", map[string]any{"revision": 2, "comment": "saw alice"}, "approved")
	ap := got["approvals"].([]any)[0].(map[string]any)
	hash, _ := ap["content_hash"].(string)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(hash) || ap["revision"] != float64(2) {
		t.Fatalf("approval %v", ap)
	}
	audit := e.lastAudit(id, "change.approved")
	if audit["revision"] != float64(2) || audit["content_hash"] != hash {
		t.Errorf("change.approved payload %v, want revision 2 and hash %s", audit, hash)
	}
	stored, err := e.db.ChangeRequestByID(context.Background(), id)
	if err != nil || stored.Approvals[0].ContentHash != hash {
		t.Errorf("stored approval %+v, %v", stored.Approvals, err)
	}

	// A rejection is pinned and recorded the same way.
	id2 := e.create("op", op("ldap.user.disable", map[string]any{"uid": "bob"}))
	e.mustAction("op", id2, "submit", nil, "submitted")
	e.mustAction("appr", id2, "reject", map[string]any{"revision": 1, "comment": "not bob"}, "rejected")
	if p := e.lastAudit(id2, "change.rejected"); p["revision"] != float64(1) || len(p["content_hash"].(string)) != 64 {
		t.Errorf("change.rejected payload %v", p)
	}
}

// TestContributorsNeverApprove: an admin who edits an operator's request
// becomes one of its authors: listed as a contributor, and refused as its
// approver though it still shows "created by" the operator.
func TestContributorsNeverApprove(t *testing.T) {
	e := newChangeEnv(t)
	id := e.create("op", op("ldap.user.disable", map[string]any{"uid": "bob"}))
	e.mustAction("op", id, "submit", nil, "submitted")
	path := fmt.Sprintf("/api/v1/change-requests/%d", id)
	if st, body := e.do("PATCH", path, e.tokens["admin"], map[string]any{"title": "admin's now"}); st != 200 {
		t.Fatalf("admin edit: %d %v", st, body)
	}
	e.mustAction("admin", id, "submit", nil, "submitted")

	_, got := e.do("GET", path, e.tokens["viewer"], nil)
	var who []string
	for _, k := range got["contributors"].([]any) {
		m := k.(map[string]any)
		who = append(who, fmt.Sprintf("%v:%v", m["email"], m["id"] != nil))
	}
	if strings.Join(who, ",") != "op@example.com:true,admin@example.com:true" || got["created_by"].(map[string]any)["email"] != "op@example.com" {
		t.Fatalf("contributors %v, created_by %v", got["contributors"], got["created_by"])
	}
	if allowed := fmt.Sprint(got["allowed_actions"]); strings.Contains(allowed, "approve") {
		t.Errorf("allowed_actions offer an approval: %s", allowed)
	}
	for _, action := range []string{"approve", "reject"} {
		st, body := e.action("admin", id, action, map[string]any{"comment": "mine"})
		if st != http.StatusForbidden || !strings.Contains(errMessage(body), "you created or edited") {
			t.Errorf("admin %s: %d %v, want 403", action, st, body)
		}
	}
	e.mustAction("appr", id, "approve", nil, "approved")
}

// TestConnectorChangeVoidsApprovals: changing a connector's config,
// credentials or approval policy sends its approved requests back to
// submitted with their approvals voided, in the same transaction, audited
// with the reason; renaming it, or entering the same policy or credentials
// again, voids nothing.
func TestConnectorChangeVoidsApprovals(t *testing.T) {
	e := newChangeEnv(t)
	connPath := fmt.Sprintf("/api/v1/connectors/%d", e.connID)
	approved := func() int64 {
		id := e.create("op", op("ldap.user.disable", map[string]any{"uid": "bob"}))
		e.mustAction("op", id, "submit", nil, "submitted")
		for _, who := range []string{"appr", "appr2"} { // the policy may ask for two
			if _, got := e.action(who, id, "approve", nil); got["status"] == "approved" {
				return id
			}
		}
		e.t.Fatalf("change %d not approved", id)
		return 0
	}
	for _, tc := range []struct {
		name  string
		patch map[string]any
		voids bool
	}{
		{"rename", map[string]any{"name": "renamed-directory"}, false},
		{"approval policy", map[string]any{"approval_policy": map[string]any{"required_approvals": 2}}, true},
		{"same approval policy", map[string]any{"approval_policy": map[string]any{"required_approvals": 2}}, false},
		// The same credentials entered again change nothing; new ones do
		// (last: the directory no longer accepts them).
		{"same credentials", map[string]any{"credentials": jsonRaw(e.dir.CredentialsJSON())}, false},
		{"credentials", map[string]any{"credentials": map[string]any{"bind_password": "a-rotated-bind-password"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := approved()
			_, before := e.do("GET", connPath, e.tokens["admin"], nil)
			if st, body := e.do("PATCH", connPath, e.tokens["admin"], tc.patch); st != 200 {
				t.Fatalf("patch connector: %d %v", st, body)
			}
			_, after := e.do("GET", connPath, e.tokens["admin"], nil)
			_, got := e.do("GET", fmt.Sprintf("/api/v1/change-requests/%d", id), e.tokens["viewer"], nil)
			if bumped := after["version"].(float64) > before["version"].(float64); bumped != tc.voids {
				t.Errorf("connector version %v -> %v", before["version"], after["version"])
			}
			if !tc.voids {
				if got["status"] != "approved" {
					t.Errorf("status %v after a change that binds nothing", got["status"])
				}
				return
			}
			if got["status"] != "submitted" || got["approval_count"] != float64(0) {
				t.Fatalf("after the connector change: %v approvals %v", got["status"], got["approvals"])
			}
			p := e.lastAudit(id, "change.approvals_voided")
			if !strings.Contains(fmt.Sprint(p["reason"]), "changed") || p["from"] != "approved" || p["to"] != "submitted" {
				t.Errorf("change.approvals_voided payload %v", p)
			}
			// Executing is refused until approvers approve it again.
			if st, _ := e.action("op", id, "execute", nil); st != http.StatusConflict {
				t.Errorf("execute after voiding: %d, want 409", st)
			}
		})
	}
}
