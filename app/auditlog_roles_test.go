package app_test

import (
	"slices"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/internal/testkit"
)

func TestAuditReadableTypes(t *testing.T) {
	if got := app.AuditReadableTypes(app.RoleAdmin); got != nil {
		t.Errorf("admin reads %v, want every type (nil)", got)
	}
	for _, role := range app.Roles[1:] {
		got := app.AuditReadableTypes(role)
		for typ, readers := range testkit.AuditReaders {
			if slices.Contains(got, typ) != slices.Contains(readers, role) {
				t.Errorf("%s reads %s records: %v, want %v", role, typ, slices.Contains(got, typ), slices.Contains(readers, role))
			}
		}
	}
}

// An export by a user holds only what the user's role may read; the CLI's
// (a system actor) holds everything.
func TestExportAuditByRole(t *testing.T) {
	env := testkit.NewService(t, testkit.Options{})
	viewer := testkit.MustCreateUser(t, env.Service, "viewer@example.com", app.RoleViewer)
	for typ := range testkit.AuditReaders {
		testkit.AppendAudit(t, env.DB, "matrix."+typ, typ, "m1")
	}
	export := func(actor app.Actor) map[string]bool {
		seen := map[string]bool{}
		err := env.Service.ExportAudit(t.Context(), actor, time.Time{}, time.Time{}, func(e *app.AuditEvent) error {
			seen[e.ResourceType] = true
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return seen
	}
	seen := export(app.UserActor(viewer))
	for typ, readers := range testkit.AuditReaders {
		if want := slices.Contains(readers, app.RoleViewer); seen[typ] != want {
			t.Errorf("viewer's export has %s records: %v, want %v", typ, seen[typ], want)
		}
	}
	if seen := export(app.SystemActor("cli")); len(seen) != len(testkit.AuditReaders) {
		t.Errorf("the CLI's export has types %v, want all %d", seen, len(testkit.AuditReaders))
	}
}
