package testkit

import (
	"context"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

// AuditReaders is who may read the audit records of each resource type:
// the matrix the console and API tests walk. A type no role but admin may
// read stands for every kind of record nobody classified yet.
var AuditReaders = map[string][]app.Role{
	"user":             {app.RoleAdmin},
	"session":          {app.RoleAdmin},
	"connector":        {app.RoleAdmin},
	"settings":         {app.RoleAdmin},
	"unclassified":     {app.RoleAdmin},
	"change_request":   app.Roles,
	"asset":            app.Roles,
	"agent":            app.Roles,
	"enrollment_token": app.Roles,
}

// AppendAudit appends one record about resourceType through the store, as a
// use case would, and returns it with its id.
func AppendAudit(tb testing.TB, st app.Store, event, resourceType, resourceID string) *app.AuditEvent {
	tb.Helper()
	e, err := app.NewAuditEvent(time.Now(), app.SystemActor("test"), event, resourceType, resourceID,
		map[string]string{"secret_of": resourceType})
	if err != nil {
		tb.Fatal(err)
	}
	if err := st.WithTx(context.Background(), func(tx app.Tx) error { return tx.AppendAudit(context.Background(), e) }); err != nil {
		tb.Fatal(err)
	}
	return e
}
