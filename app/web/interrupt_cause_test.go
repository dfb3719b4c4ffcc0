package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// TestDetailShowsWhyExecutionStopped: an interrupted request says why in
// words (the real cause the engine recorded), and one running again after
// an automatic hand-back says what it recovered from.
func TestDetailShowsWhyExecutionStopped(t *testing.T) {
	e := newEnv(t, envOpts{})
	conn := e.ldapConnector(ldaptest.Start(t), 1)
	u := e.seedUser("op@example.com", app.RoleOperator)
	web := e.client()
	e.login(web, u.Email)
	ctx := context.Background()
	for _, tc := range []struct {
		state app.ChangeState
		cause string
		want  string
	}{
		{app.StateInterrupted, "database error: <disk I/O error>", "Execution stopped:</strong> database error: &lt;disk I/O error&gt;"},
		{app.StateExecuting, "server shut down", "Resumed by itself after: server shut down"},
		{app.StateSucceeded, "server shut down", ""},
	} {
		t.Run(string(tc.state), func(t *testing.T) {
			c := &app.ChangeRequest{Title: "fixture", ConnectorID: conn.ID, CreatedBy: u.ID, CreatedByEmail: u.Email,
				State: tc.state, Revision: 1, InterruptCause: tc.cause,
				Operations: []app.ChangeOperation{{Type: "ldap.user.disable", Status: app.OpPending, Params: json.RawMessage(`{"uid":"alice"}`)}}}
			if tc.state == app.StateExecuting {
				// Held by another worker's lease, so the console's engine
				// leaves the fixture alone.
				c.LeaseOwner, c.LeaseExpiresAt = "elsewhere", e.clock.Now().Add(time.Hour)
			}
			if err := e.db.WithTx(ctx, func(tx app.Tx) error { return tx.CreateChangeRequest(ctx, c) }); err != nil {
				t.Fatal(err)
			}
			page := e.get(web, "/changes/"+strconv.FormatInt(c.ID, 10))
			if page.StatusCode != http.StatusOK {
				t.Fatalf("detail page: %d", page.StatusCode)
			}
			shown := testIDs(page.body)["change-interrupt-cause"]
			if shown != (tc.want != "") {
				t.Fatalf("cause shown = %v, want %v", shown, tc.want != "")
			}
			if tc.want != "" && !strings.Contains(page.body, tc.want) {
				t.Errorf("page does not say %q", tc.want)
			}
		})
	}
}
