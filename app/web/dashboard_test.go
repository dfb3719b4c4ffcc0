package web_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

// cardChangeIDs returns the change request ids listed in the dashboard
// card key, or nil and false when the card is absent.
func cardChangeIDs(body, key string) ([]int64, bool) {
	start := strings.Index(body, `data-testid="card-`+key+`"`)
	if start < 0 {
		return nil, false
	}
	rest := body[start:]
	if end := strings.Index(rest, "</section>"); end >= 0 {
		rest = rest[:end]
	}
	var ids []int64
	for _, m := range regexp.MustCompile(`data-testid="change-row" data-change-id="(\d+)"`).FindAllStringSubmatch(rest, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		ids = append(ids, n)
	}
	return ids, true
}

// seedChange writes a change request in state st by u straight into the
// store (the dashboard reads; how requests got there is not its business).
func (e *env) seedChange(connID int64, u *app.User, title string, st app.ChangeState) *app.ChangeRequest {
	e.t.Helper()
	now := e.clock.Now().UTC()
	c := &app.ChangeRequest{Title: title, ConnectorID: connID, CreatedBy: u.ID, CreatedByEmail: u.Email, State: st,
		Revision: 1, CreatedAt: now, UpdatedAt: now,
		Operations: []app.ChangeOperation{{Type: "ldap.user.disable", Status: app.OpPending, Params: json.RawMessage(`{"uid":"alice"}`)}}}
	if st == app.StateFailed || st == app.StateSucceeded {
		c.FinishedAt = now
	}
	err := e.db.WithTx(e.t.Context(), func(tx app.Tx) error {
		if err := tx.CreateChangeRequest(e.t.Context(), c); err != nil {
			return err
		}
		if st != app.StateApproved {
			return nil
		}
		conn, err := tx.ConnectorByID(e.t.Context(), connID)
		if err != nil {
			return err
		}
		// Approved by approver@example.com, whom the test seeds first.
		ap, err := tx.UserByEmail(e.t.Context(), "approver@example.com")
		if err != nil {
			return err
		}
		return tx.AddApproval(e.t.Context(), &app.Approval{ChangeRequestID: c.ID, UserID: ap.ID, UserEmail: ap.Email,
			Decision: app.DecisionApprove, Revision: c.Revision, ContentHash: app.ContentHash(c, conn), At: now})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// seedConnector writes an LDAP connector straight into the store.
func (e *env) seedConnector(name string) *app.Connector {
	e.t.Helper()
	now := e.clock.Now().UTC()
	c := &app.Connector{Name: name, Type: "ldap", Config: json.RawMessage(`{"url":"ldaps://dir.example.com","base_dn":"dc=example,dc=com"}`),
		RequiredApprovals: 1, CreatedAt: now, UpdatedAt: now}
	if err := e.db.WithTx(e.t.Context(), func(tx app.Tx) error { return tx.CreateConnector(e.t.Context(), c) }); err != nil {
		e.t.Fatal(err)
	}
	return c
}

// TestDashboardGettingStartedChecklist: a new install's dashboard lists the
// three first steps, linked for the admin, unlinked for a viewer who may
// take none; it is gone once people, a connector and a change request exist.
func TestDashboardGettingStartedChecklist(t *testing.T) {
	e := newEnv(t, envOpts{})
	admin := e.seedUser("admin@example.com", app.RoleAdmin)
	a := e.client()
	e.login(a, "admin@example.com")
	r := e.get(a, "/")
	if r.StatusCode != http.StatusOK {
		t.Fatalf("dashboard: %d", r.StatusCode)
	}
	requireContains(t, r, `data-testid="getting-started"`,
		`data-testid="getting-started-users" data-done="false"`, `href="/users" class="step-name" data-testid="getting-started-users-link"`,
		`data-testid="getting-started-connector" data-done="false"`, `href="/connectors/new" class="step-name" data-testid="getting-started-connector-link"`,
		`data-testid="getting-started-change" data-done="false"`, `href="/changes/new" class="step-name" data-testid="getting-started-change-link"`)

	e.seedUser("viewer@example.com", app.RoleViewer)
	v := e.client()
	e.login(v, "viewer@example.com")
	r = e.get(v, "/")
	requireContains(t, r, `class="done" data-testid="getting-started-users" data-done="true"`, `data-testid="getting-started-connector" data-done="false"`)
	if strings.Contains(r.body, "getting-started-connector-link") || strings.Contains(r.body, "getting-started-change-link") {
		t.Error("a viewer is offered steps they may not take")
	}

	conn := e.seedConnector("corp")
	r = e.get(a, "/")
	requireContains(t, r, `class="done" data-testid="getting-started-connector" data-done="true"`, `data-testid="getting-started-change" data-done="false"`)
	e.seedChange(conn.ID, admin, "first", app.StateDraft)
	if r := e.get(a, "/"); strings.Contains(r.body, `data-testid="getting-started"`) {
		t.Error("the checklist stays after every step is done")
	}
}

// TestDashboardByRole: an operator's dashboard lists their drafts, their
// requests waiting for approval, approved requests ready to execute and
// their failed ones; an approver's lists what waits for their approval; a
// viewer gets neither.
func TestDashboardByRole(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seedUser("admin@example.com", app.RoleAdmin)
	op := e.seedUser("operator@example.com", app.RoleOperator)
	other := e.seedUser("operator2@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)
	e.seedUser("viewer@example.com", app.RoleViewer)
	conn := e.seedConnector("corp")
	draft := e.seedChange(conn.ID, op, "my draft", app.StateDraft)
	waiting := e.seedChange(conn.ID, op, "my waiting", app.StateSubmitted)
	failed := e.seedChange(conn.ID, op, "my failed", app.StateFailed)
	approved := e.seedChange(conn.ID, other, "approved by someone", app.StateApproved)
	e.seedChange(conn.ID, other, "their draft", app.StateDraft)
	theirs := e.seedChange(conn.ID, other, "their waiting", app.StateSubmitted)
	e.seedChange(conn.ID, other, "their failed", app.StateFailed)
	e.clock.Advance(time.Second)

	oc := e.client()
	e.login(oc, "operator@example.com")
	r := e.get(oc, "/")
	for key, want := range map[string][]int64{"my-drafts": {draft.ID}, "my-waiting": {waiting.ID},
		"ready-to-execute": {approved.ID}, "my-failed": {failed.ID}} {
		got, ok := cardChangeIDs(r.body, key)
		if !ok || !slices.Equal(got, want) {
			t.Errorf("operator card %s: %v (present %v), want %v", key, got, ok, want)
		}
	}
	if _, ok := cardChangeIDs(r.body, "approvals"); ok {
		t.Error("an operator sees the approvals card")
	}
	requireContains(t, r, "My drafts", "My requests waiting for approval", "Approved, ready to execute", "My failed requests")

	ac := e.client()
	e.login(ac, "approver@example.com")
	r = e.get(ac, "/")
	if got, ok := cardChangeIDs(r.body, "approvals"); !ok || !slices.Equal(got, []int64{theirs.ID, waiting.ID}) {
		t.Errorf("approver's approvals card: %v (present %v), want [%d %d]", got, ok, theirs.ID, waiting.ID)
	}
	for _, key := range []string{"my-drafts", "my-waiting", "ready-to-execute", "my-failed"} {
		if _, ok := cardChangeIDs(r.body, key); ok {
			t.Errorf("an approver sees card %s", key)
		}
	}

	vc := e.client()
	e.login(vc, "viewer@example.com")
	r = e.get(vc, "/")
	for _, key := range []string{"my-drafts", "ready-to-execute", "approvals"} {
		if _, ok := cardChangeIDs(r.body, key); ok {
			t.Errorf("a viewer sees card %s", key)
		}
	}
	requireContains(t, r, `data-testid="card-executed"`)
}
