package app_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// auditOf returns the records of event, newest first.
func auditOf(t *testing.T, svc *app.Service, event string) []app.AuditEvent {
	t.Helper()
	p, err := svc.ListAudit(context.Background(), app.SystemActor("test"), app.AuditQuery{Event: event})
	if err != nil {
		t.Fatal(err)
	}
	return p.Events
}

func payloadOf(t *testing.T, e app.AuditEvent) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(e.Payload, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestChangeEditRecordsOnlyChangedFields: the console's edit form sends
// title, description and operations back every time; the change.edited
// record names only what differs, and an edit that changes nothing writes
// nothing (no revision, no voided approval, no record).
func TestChangeEditRecordsOnlyChangedFields(t *testing.T) {
	e := newActionsEnv(t)
	ctx := context.Background()
	op := e.users[app.RoleOperator]
	actor := app.UserActor(op)
	c := e.fixture(app.RoleOperator, app.StateDraft, contribution{creator: true})
	ops := make([]app.OpInput, 0, len(c.Operations))
	for _, o := range c.Operations {
		// Same value, other key order and spacing.
		var m map[string]any
		if err := json.Unmarshal(o.Params, &m); err != nil {
			t.Fatal(err)
		}
		b, _ := json.MarshalIndent(m, "", "  ")
		ops = append(ops, app.OpInput{Type: o.Type, Params: b})
	}
	title, desc := c.Title, c.Description
	got, err := e.svc.UpdateChange(ctx, actor, c.ID, app.ChangePatch{Title: &title, Description: &desc, Operations: ops})
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision != c.Revision {
		t.Errorf("unchanged edit moved the revision %d → %d", c.Revision, got.Revision)
	}
	if evs := auditOf(t, e.svc, "change.edited"); len(evs) != 0 {
		t.Fatalf("unchanged edit recorded %s", evs[0].Payload)
	}

	title = "a new title"
	if got, err = e.svc.UpdateChange(ctx, actor, c.ID, app.ChangePatch{Title: &title, Description: &desc, Operations: ops}); err != nil {
		t.Fatal(err)
	}
	if got.Revision != c.Revision+1 || got.Title != title {
		t.Errorf("after a title edit: revision %d title %q", got.Revision, got.Title)
	}
	evs := auditOf(t, e.svc, "change.edited")
	if len(evs) != 1 {
		t.Fatalf("%d change.edited records, want 1", len(evs))
	}
	p := payloadOf(t, evs[0])
	if p["title"] != title {
		t.Errorf("payload title = %v", p["title"])
	}
	for _, k := range []string{"description_changed", "operations"} {
		if _, ok := p[k]; ok {
			t.Errorf("payload records %s, which did not change: %s", k, evs[0].Payload)
		}
	}

	desc = "now with a description"
	if _, err = e.svc.UpdateChange(ctx, actor, c.ID, app.ChangePatch{Title: &title, Description: &desc, Operations: ops}); err != nil {
		t.Fatal(err)
	}
	p = payloadOf(t, auditOf(t, e.svc, "change.edited")[0])
	if p["description_changed"] != true {
		t.Errorf("description edit not recorded: %v", p)
	}
	for _, k := range []string{"title", "operations"} {
		if _, ok := p[k]; ok {
			t.Errorf("payload records %s, which did not change: %v", k, p)
		}
	}
}

// TestConnectorUpdateRecordsOnlyChangedFields: connector.updated lists in
// "changed" only the fields whose value differs, credentials included
// (compared without recording them); an update that changes nothing writes
// no record.
func TestConnectorUpdateRecordsOnlyChangedFields(t *testing.T) {
	e := newActionsEnv(t)
	ctx, sys := context.Background(), app.SystemActor("test")
	name, n := e.conn.Name, e.conn.RequiredApprovals
	var creds map[string]any
	dirCreds := e.credentials
	if err := json.Unmarshal(dirCreds, &creds); err != nil {
		t.Fatal(err)
	}
	reordered, _ := json.MarshalIndent(creds, "", "\t")
	same := app.ConnectorPatch{Name: &name, Config: e.conn.Config, Credentials: reordered, RequiredApprovals: &n}
	if _, err := e.svc.UpdateConnector(ctx, sys, e.conn.ID, same); err != nil {
		t.Fatal(err)
	}
	if evs := auditOf(t, e.svc, "connector.updated"); len(evs) != 0 {
		t.Fatalf("unchanged update recorded %s", evs[0].Payload)
	}
	got, err := e.svc.GetConnector(ctx, sys, e.conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != e.conn.Version {
		t.Errorf("unchanged update moved the version %d → %d", e.conn.Version, got.Version)
	}

	name = "corp-renamed"
	same.Name = &name
	if _, err := e.svc.UpdateConnector(ctx, sys, e.conn.ID, same); err != nil {
		t.Fatal(err)
	}
	evs := auditOf(t, e.svc, "connector.updated")
	if len(evs) != 1 {
		t.Fatalf("%d connector.updated records, want 1", len(evs))
	}
	p := payloadOf(t, evs[0])
	changed, _ := p["changed"].([]any)
	if !slices.Equal(changed, []any{"name"}) {
		t.Errorf("changed = %v, want [name]", p["changed"])
	}
}
