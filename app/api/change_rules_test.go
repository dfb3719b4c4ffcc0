package api_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestChangeRules(t *testing.T) {
	e := newChangeEnv(t)
	disableBob := op("ldap.user.disable", map[string]any{"uid": "bob"})

	t.Run("roles", func(t *testing.T) {
		for _, who := range []string{"appr", "viewer"} {
			st, body := e.do("POST", "/api/v1/change-requests", e.tokens[who], map[string]any{
				"title": "x", "connector_id": e.connID, "operations": []any{disableBob}})
			if st != http.StatusForbidden {
				t.Errorf("create as %s: %d %v, want 403", who, st, body)
			}
		}
		id := e.create("op", disableBob)
		if st, _ := e.action("appr", id, "submit", nil); st != http.StatusForbidden {
			t.Errorf("approver submitting: %d, want 403", st)
		}
		e.mustAction("op", id, "submit", nil, "submitted")
		if st, body := e.action("op", id, "approve", nil); st != http.StatusForbidden {
			t.Errorf("operator approving: %d %v, want 403", st, body)
		}
		if st, body := e.action("viewer", id, "approve", nil); st != http.StatusForbidden {
			t.Errorf("viewer approving: %d %v, want 403", st, body)
		}
		if st, body := e.action("appr", id, "execute", nil); st != http.StatusForbidden {
			t.Errorf("approver executing: %d %v, want 403", st, body)
		}
		e.mustAction("op", id, "cancel", nil, "cancelled")
	})

	t.Run("nobody approves their own request", func(t *testing.T) {
		id := e.create("admin", disableBob)
		e.mustAction("admin", id, "submit", nil, "submitted")
		st, body := e.action("admin", id, "approve", map[string]string{"comment": "mine"})
		if st != http.StatusForbidden || !strings.Contains(errMessage(body), "you created or edited") {
			t.Errorf("self-approval: %d %v", st, body)
		}
		if st, _ := e.action("admin", id, "reject", map[string]string{"comment": "mine"}); st != http.StatusForbidden {
			t.Errorf("self-rejection: %d", st)
		}
		e.mustAction("admin", id, "cancel", nil, "cancelled")
	})

	t.Run("approvals count once and reach the policy", func(t *testing.T) {
		two := 2
		if st, body := e.do("PATCH", fmt.Sprintf("/api/v1/connectors/%d", e.connID), e.tokens["admin"],
			map[string]any{"approval_policy": map[string]any{"required_approvals": two}}); st != 200 {
			t.Fatalf("set policy: %d %v", st, body)
		}
		defer e.do("PATCH", fmt.Sprintf("/api/v1/connectors/%d", e.connID), e.tokens["admin"],
			map[string]any{"approval_policy": map[string]any{"required_approvals": 1}})
		id := e.create("op", disableBob)
		e.mustAction("op", id, "submit", nil, "submitted")
		body := e.mustAction("appr", id, "approve", map[string]string{"comment": "one"}, "submitted")
		if body["approval_count"].(float64) != 1 {
			t.Errorf("approval_count = %v", body["approval_count"])
		}
		st, resp := e.action("appr", id, "approve", map[string]string{"comment": "again"})
		if st != http.StatusConflict || !strings.Contains(errMessage(resp), "already approved") {
			t.Errorf("second approval by the same approver: %d %v", st, resp)
		}
		if st, resp := e.action("op", id, "execute", nil); st != http.StatusConflict || !strings.Contains(errMessage(resp), "submitted") {
			t.Errorf("execute with 1 of 2 approvals: %d %v, want 409 naming the state", st, resp)
		}
		e.mustAction("appr2", id, "approve", map[string]string{"comment": "two"}, "approved")

		// Editing sends it back to draft and voids both approvals.
		st, edited := e.do("PATCH", fmt.Sprintf("/api/v1/change-requests/%d", id), e.tokens["op"], map[string]any{"title": "edited title"})
		if st != 200 || edited["status"] != "draft" || edited["approval_count"].(float64) != 0 {
			t.Fatalf("edit approved request: %d %v", st, edited)
		}
		for _, a := range edited["approvals"].([]any) {
			if a.(map[string]any)["void"] != true {
				t.Errorf("approval not voided: %v", a)
			}
		}
		e.mustAction("op", id, "submit", nil, "submitted")
		e.mustAction("appr", id, "approve", map[string]string{"comment": "re-approve"}, "submitted")
		e.mustAction("appr2", id, "approve", nil, "approved")
		if st, resp := e.action("op", id, "cancel", nil); st != http.StatusConflict || !strings.Contains(errMessage(resp), "it is approved") {
			t.Errorf("cancel approved: %d %v, want 409", st, resp)
		}
	})

	t.Run("illegal transitions name the state", func(t *testing.T) {
		id := e.create("op", disableBob)
		cases := []struct{ who, action, state string }{
			{"appr", "approve", "draft"}, {"op", "execute", "draft"}, {"op", "resume", "draft"},
		}
		for _, c := range cases {
			st, body := e.action(c.who, id, c.action, nil)
			if st != http.StatusConflict || !strings.Contains(errMessage(body), "it is "+c.state) {
				t.Errorf("%s on %s: %d %v", c.action, c.state, st, body)
			}
		}
		if st, body := e.action("op", id, "resume", map[string]any{"rerun_unknown": true}); st != http.StatusConflict || !strings.Contains(errMessage(body), "it is draft") {
			t.Errorf("resume with rerun_unknown on draft: %d %v", st, body)
		}
		e.mustAction("op", id, "submit", nil, "submitted")
		if st, body := e.action("op", id, "submit", nil); st != http.StatusConflict || !strings.Contains(errMessage(body), "it is submitted") {
			t.Errorf("double submit: %d %v", st, body)
		}
		if st, body := e.action("appr", id, "reject", map[string]string{"comment": " "}); st != http.StatusBadRequest || !strings.Contains(errMessage(body), "comment is required") {
			t.Errorf("reject without comment: %d %v", st, body)
		}
		e.mustAction("appr", id, "reject", map[string]string{"comment": "not now"}, "rejected")
		if st, body := e.do("PATCH", fmt.Sprintf("/api/v1/change-requests/%d", id), e.tokens["op"], map[string]any{"title": "x"}); st != http.StatusConflict || !strings.Contains(errMessage(body), "rejected") {
			t.Errorf("edit rejected: %d %v", st, body)
		}
	})

	t.Run("emergency change", func(t *testing.T) {
		id := e.create("op", op("ldap.user.enable", map[string]any{"uid": "bob"}))
		e.mustAction("op", id, "submit", nil, "submitted")
		if st, _ := e.action("op", id, "execute", map[string]any{"emergency": true, "justification": "incident 42: account compromised"}); st != http.StatusForbidden {
			t.Errorf("operator emergency: %d, want 403", st)
		}
		if st, body := e.action("admin", id, "execute", map[string]any{"emergency": true, "justification": "short"}); st != http.StatusBadRequest {
			t.Errorf("emergency without a real justification: %d %v", st, body)
		}
		e.mustAction("admin", id, "execute", map[string]any{"emergency": true, "justification": "incident 42: account compromised"}, "executing")
		body := e.waitDone(id)
		em, _ := body["emergency"].(map[string]any)
		if body["status"] != "succeeded" || em == nil || em["needs_review"] != true {
			t.Fatalf("emergency run: %v", body)
		}
		st, list := e.do("GET", "/api/v1/change-requests?needs_review=true", e.tokens["viewer"], nil)
		if st != 200 || len(list["change_requests"].([]any)) != 1 {
			t.Errorf("needs_review list: %d %v", st, list)
		}
		if st, resp := e.action("admin", id, "review", map[string]string{"comment": "fine"}); st != http.StatusForbidden {
			t.Errorf("review by the executing admin: %d %v", st, resp)
		}
		reviewed := e.mustAction("appr", id, "review", map[string]string{"comment": "checked the incident ticket"}, "succeeded")
		if reviewed["emergency"].(map[string]any)["needs_review"] != false {
			t.Errorf("still needs review: %v", reviewed)
		}
	})

	t.Run("stops at the first failure", func(t *testing.T) {
		// carol exists when planned, is deleted by op 2, so op 3 fails and op 4 is skipped.
		_, made := e.run(op("ldap.user.create", map[string]any{"uid": "carol", "cn": "Carol", "sn": "Doe", "mail": "carol@example.org"}))
		if made["status"] != "succeeded" {
			t.Fatalf("create carol: %v", made)
		}
		_, body := e.run(
			op("ldap.group.add_member", map[string]any{"group": "admins", "uid": "bob"}),
			op("ldap.user.delete", map[string]any{"uid": "carol"}),
			op("ldap.user.disable", map[string]any{"uid": "carol"}),
			op("ldap.group.remove_member", map[string]any{"group": "admins", "uid": "bob"}),
		)
		var statuses []string
		for _, o := range body["operations"].([]any) {
			statuses = append(statuses, o.(map[string]any)["status"].(string))
		}
		if body["status"] != "failed" || strings.Join(statuses, ",") != "succeeded,succeeded,failed,skipped" {
			t.Errorf("status %v, operations %v", body["status"], statuses)
		}
		if msg := body["operations"].([]any)[2].(map[string]any)["error"]; msg == nil || msg == "" {
			t.Error("failed operation has no error")
		}
		if !e.isMember("admins", "bob") {
			t.Error("op 1 was not applied (or op 4 ran)")
		}
	})

	t.Run("bad input", func(t *testing.T) {
		cases := []struct {
			name string
			body map[string]any
			want int
			msg  string
		}{
			{"unknown op type", map[string]any{"title": "t", "connector_id": e.connID, "operations": []any{op("ldap.user.explode", map[string]any{"uid": "bob"})}}, 400, "unknown operation type"},
			{"no operations", map[string]any{"title": "t", "connector_id": e.connID, "operations": []any{}}, 400, "at least one operation"},
			{"no title", map[string]any{"title": "", "connector_id": e.connID, "operations": []any{disableBob}}, 400, "title is required"},
			{"unknown connector", map[string]any{"title": "t", "connector_id": 9999, "operations": []any{disableBob}}, 400, "does not exist"},
			{"dn injection", map[string]any{"title": "t", "connector_id": e.connID, "operations": []any{op("ldap.user.disable", map[string]any{"uid": "bob,ou=people"})}}, 400, "uid"},
			{"filter injection", map[string]any{"title": "t", "connector_id": e.connID, "operations": []any{op("ldap.user.disable", map[string]any{"uid": "*)(uid=*"})}}, 400, "uid"},
			{"unknown param", map[string]any{"title": "t", "connector_id": e.connID, "operations": []any{op("ldap.user.disable", map[string]any{"uid": "bob", "shell": "/bin/sh"})}}, 400, "unknown field"},
			{"wrong param type", map[string]any{"title": "t", "connector_id": e.connID, "operations": []any{op("ldap.user.disable", map[string]any{"uid": 7})}}, 400, "wrong type"},
		}
		for _, c := range cases {
			before := e.counts()
			st, body := e.do("POST", "/api/v1/change-requests", e.tokens["op"], c.body)
			if st != c.want || !strings.Contains(errMessage(body), c.msg) {
				t.Errorf("%s: %d %v, want %d with %q", c.name, st, body, c.want, c.msg)
			}
			if after := e.counts(); after != before {
				t.Errorf("%s: state changed %+v -> %+v", c.name, before, after)
			}
		}
		// A plan that fails at submission (no such user) refuses it.
		id := e.create("op", op("ldap.user.disable", map[string]any{"uid": "nosuchuser"}))
		st, body := e.action("op", id, "submit", nil)
		if st != http.StatusBadRequest || !strings.Contains(errMessage(body), "nosuchuser") {
			t.Errorf("submit with failing plan: %d %v", st, body)
		}
	})
}
