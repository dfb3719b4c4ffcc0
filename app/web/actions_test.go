package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// actionButtons are the console's buttons for app's change request actions.
var actionButtons = map[string]string{
	app.ActionEdit: "change-edit", app.ActionSubmit: "change-submit", app.ActionApprove: "change-approve",
	app.ActionReject: "change-reject", app.ActionCancel: "change-cancel", app.ActionExecute: "change-execute",
	app.ActionEmergencyExecute: "change-emergency-execute", app.ActionResume: "change-resume",
	app.ActionReview: "change-review", app.ActionRerunUnknown: "change-rerun-unknown",
}

// participation is how the viewing user took part in a change request.
type participation struct {
	creator  bool
	editor   bool   // edited a revision someone else created
	approved bool   // approved its current revision
	ranBy    string // emergency run by: "" none, "me", "other"
}

// participations lists the ways a user can have taken part in a request
// in state st.
func participations(st app.ChangeState) []participation {
	var out []participation
	for _, w := range []struct{ creator, editor bool }{{false, false}, {true, false}, {false, true}} {
		approved := []bool{false}
		if st == app.StateSubmitted || st == app.StateApproved {
			approved = []bool{false, true}
		}
		ran := []string{""}
		switch st {
		case app.StateExecuting, app.StateSucceeded, app.StateFailed, app.StateInterrupted:
			ran = []string{"", "me", "other"}
		}
		for _, ap := range approved {
			for _, r := range ran {
				out = append(out, participation{creator: w.creator, editor: w.editor, approved: ap, ranBy: r})
			}
		}
	}
	return out
}

// TestConsoleAndAPIShowWhatAppAllows walks every state x role x way of
// having taken part in a change request: the detail page's action buttons
// and the API's allowed_actions are exactly what app.ChangeActions allows.
func TestConsoleAndAPIShowWhatAppAllows(t *testing.T) {
	e := newEnv(t, envOpts{api: true})
	conn := e.ldapConnector(ldaptest.Start(t), 1)
	ctx := context.Background()
	type who struct {
		user   *app.User
		web    *http.Client
		token  string
		author *app.User // someone else who created requests they did not
	}
	people := map[app.Role]who{}
	for _, role := range app.Roles {
		u := e.seedUser(string(role)+"@example.com", role)
		author := e.seedUser("author-"+string(role)+"@example.com", app.RoleOperator)
		c := e.client()
		e.login(c, u.Email)
		people[role] = who{user: u, web: c, token: e.apiLogin(u.Email), author: author}
	}
	runner := e.seedUser("runner@example.com", app.RoleAdmin)

	for _, st := range app.ChangeStates {
		for _, role := range app.Roles {
			for _, k := range participations(st) {
				name := fmt.Sprintf("%s/%s/creator=%v,editor=%v,approved=%v,emergency=%q", st, role, k.creator, k.editor, k.approved, k.ranBy)
				t.Run(name, func(t *testing.T) {
					p := people[role]
					by := p.author
					if k.creator {
						by = p.user
					}
					// Held by another worker's lease, so the console's engine
					// leaves an executing fixture alone.
					c := &app.ChangeRequest{Title: "fixture", ConnectorID: conn.ID, CreatedBy: by.ID, CreatedByEmail: by.Email,
						State: st, Revision: 1, LeaseOwner: "elsewhere", LeaseExpiresAt: e.clock.Now().Add(time.Hour),
						Operations: []app.ChangeOperation{{Type: "ldap.user.lock", Status: app.OpPending,
							Params: json.RawMessage(`{"uid":"alice"}`)}}}
					if k.ranBy != "" {
						c.Emergency, c.EmergencyJustification, c.EmergencyBy = true, "it could not wait", runner.ID
						if k.ranBy == "me" {
							c.EmergencyBy = p.user.ID
						}
					}
					err := e.db.WithTx(ctx, func(tx app.Tx) error {
						if err := tx.CreateChangeRequest(ctx, c); err != nil {
							return err
						}
						if k.editor {
							if err := tx.AddContributor(ctx, c.ID, app.Contributor{UserID: p.user.ID, Email: p.user.Email}); err != nil {
								return err
							}
						}
						if !k.approved {
							return nil
						}
						return tx.AddApproval(ctx, &app.Approval{ChangeRequestID: c.ID, UserID: p.user.ID,
							UserEmail: p.user.Email, Decision: app.DecisionApprove, Revision: 1, At: e.clock.Now()})
					})
					if err != nil {
						t.Fatal(err)
					}
					stored, err := e.svc.GetChange(ctx, app.SystemActor("test"), c.ID)
					if err != nil {
						t.Fatal(err)
					}
					want := e.svc.ChangeActions(app.UserActor(p.user), stored).Names()
					if k.creator || k.editor {
						for _, a := range []string{app.ActionApprove, app.ActionReject, app.ActionReview} {
							if slices.Contains(want, a) {
								t.Errorf("a contributor is allowed to %s", a)
							}
						}
					}

					// The console: exactly the buttons of the allowed actions.
					page := e.get(p.web, "/changes/"+strconv.FormatInt(c.ID, 10))
					if page.StatusCode != http.StatusOK {
						t.Fatalf("detail page: %d", page.StatusCode)
					}
					ids := testIDs(page.body)
					if st == app.StateApproved && role == app.RoleAdmin && !ids["change-emergency-execute"] {
						t.Error("an admin is not offered an emergency execute of an approved request")
					}
					for action, button := range actionButtons {
						if ids[button] != slices.Contains(want, action) {
							t.Errorf("console: button %s shown=%v, app allows %v", button, ids[button], want)
						}
					}

					// The API: allowed_actions is the same list, in app's order.
					var got struct {
						AllowedActions []string `json:"allowed_actions"`
					}
					status, body := e.apiGet(p.token, "/api/v1/change-requests/"+strconv.FormatInt(c.ID, 10))
					if status != http.StatusOK || json.Unmarshal(body, &got) != nil || got.AllowedActions == nil {
						t.Fatalf("API: %d %s", status, body)
					}
					if !slices.Equal(got.AllowedActions, want) {
						t.Errorf("API allowed_actions %v, app allows %v", got.AllowedActions, want)
					}
				})
			}
		}
	}
}

// apiLogin returns a bearer token for email from the API.
func (e *env) apiLogin(email string) string {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/auth/login",
		strings.NewReader(fmt.Sprintf(`{"email":%q,"password":%q}`, email, testPassword)))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	r := e.do(e.client(), req)
	var out struct {
		Token string `json:"token"`
	}
	if r.StatusCode != http.StatusOK || json.Unmarshal([]byte(r.body), &out) != nil || out.Token == "" {
		e.t.Fatalf("API login %s: %d %s", email, r.StatusCode, r.body)
	}
	return out.Token
}

// apiGet sends an authenticated API GET.
func (e *env) apiGet(token, path string) (int, []byte) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	r := e.do(e.client(), req)
	return r.StatusCode, []byte(r.body)
}
