package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

func TestCanTransitionEveryPair(t *testing.T) {
	// The state machine of ARCHITECTURE.md, written out again.
	legal := map[[2]app.ChangeState]bool{
		{app.StateDraft, app.StateSubmitted}: true, {app.StateDraft, app.StateCancelled}: true,
		{app.StateSubmitted, app.StateApproved}: true, {app.StateSubmitted, app.StateRejected}: true,
		{app.StateSubmitted, app.StateCancelled}: true, {app.StateSubmitted, app.StateDraft}: true,
		{app.StateSubmitted, app.StateExecuting}: true,
		{app.StateApproved, app.StateExecuting}:  true, {app.StateApproved, app.StateDraft}: true,
		{app.StateApproved, app.StateSubmitted}:  true, // approvals voided or no longer enough
		{app.StateExecuting, app.StateSucceeded}: true, {app.StateExecuting, app.StateFailed}: true,
		{app.StateExecuting, app.StateInterrupted}: true,
		{app.StateInterrupted, app.StateExecuting}: true,
	}
	for _, from := range app.ChangeStates {
		terminal := true
		for _, to := range app.ChangeStates {
			want := legal[[2]app.ChangeState{from, to}]
			if got := app.CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
			if want {
				terminal = false
			}
		}
		if from.Terminal() != terminal {
			t.Errorf("%s.Terminal() = %v, want %v", from, from.Terminal(), terminal)
		}
	}
}

// contribution is how the actor took part in a change request so far.
type contribution struct {
	creator  bool   // the actor created it
	editor   bool   // the actor edited a revision someone else created
	approved bool   // the actor approved its current revision
	ranBy    string // emergency run by: "" none, "me", "other"
}

func (k contribution) String() string {
	return fmt.Sprintf("creator=%v,editor=%v,approved=%v,emergency=%q", k.creator, k.editor, k.approved, k.ranBy)
}

// contributions lists the ways an actor can have taken part in a request
// in state st.
func contributions(st app.ChangeState) []contribution {
	var out []contribution
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
				out = append(out, contribution{creator: w.creator, editor: w.editor, approved: ap, ranBy: r})
			}
		}
	}
	return out
}

// wantChangeActions is the rule book of ARCHITECTURE.md written out again,
// independently of app: what a role may do to a request in a state.
func wantChangeActions(role app.Role, st app.ChangeState, k contribution) []string {
	write := role == app.RoleAdmin || role == app.RoleOperator
	approve := role == app.RoleAdmin || role == app.RoleApprover
	in := func(states ...app.ChangeState) bool { return slices.Contains(states, st) }
	out := []string{}
	if write && in(app.StateDraft, app.StateSubmitted, app.StateApproved) {
		out = append(out, app.ActionEdit)
	}
	if write && st == app.StateDraft {
		out = append(out, app.ActionSubmit)
	}
	contributor := k.creator || k.editor // no one approves or reviews what they wrote
	if approve && st == app.StateSubmitted && !contributor && !k.approved {
		out = append(out, app.ActionApprove, app.ActionReject)
	}
	if write && in(app.StateDraft, app.StateSubmitted) {
		out = append(out, app.ActionCancel)
	}
	if write && st == app.StateApproved { // operators and admins execute
		out = append(out, app.ActionExecute)
	}
	if role == app.RoleAdmin && in(app.StateSubmitted, app.StateApproved) {
		out = append(out, app.ActionEmergencyExecute)
	}
	if write && st == app.StateInterrupted {
		out = append(out, app.ActionResume)
	}
	if approve && k.ranBy == "other" && !contributor {
		out = append(out, app.ActionReview)
	}
	return out
}

// actionsEnv is a service over a real SQLite store with the LDAP connector
// pointed at a real slapd (submitting plans against it).
type actionsEnv struct {
	t      *testing.T
	svc    *app.Service
	db     *store.DB
	conn   *app.Connector
	users  map[app.Role]*app.User
	others map[app.Role]*app.User // a second user of each role
	// credentials are the connector's credentials as created.
	credentials []byte
}

func newActionsEnv(t *testing.T) *actionsEnv {
	t.Helper()
	dir := ldaptest.Start(t)
	k := testkit.NewService(t, testkit.Options{Drivers: func(reg *app.Registry, _ *store.DB, _ *testkit.Clock) { ldap.Register(reg) }})
	svc, db := k.Service, k.DB
	e := &actionsEnv{t: t, svc: svc, db: db, users: map[app.Role]*app.User{}, others: map[app.Role]*app.User{}}
	ctx, sys := context.Background(), app.SystemActor("test")
	for _, r := range app.Roles {
		for i, m := range []map[app.Role]*app.User{e.users, e.others} {
			m[r] = testkit.MustCreateUser(t, svc, fmt.Sprintf("%s%d@example.com", r, i), r)
		}
	}
	var err error
	e.credentials = dir.CredentialsJSON()
	if e.conn, err = svc.CreateConnector(ctx, sys, app.ConnectorInput{Name: "corp", Type: "ldap",
		Config: dir.ConfigJSON(), Credentials: dir.CredentialsJSON()}); err != nil {
		t.Fatal(err)
	}
	return e
}

// fixture writes a change request in state st straight into the store, as
// the actor (a user of role) took part in it per k.
func (e *actionsEnv) fixture(role app.Role, st app.ChangeState, k contribution) *app.ChangeRequest {
	e.t.Helper()
	ctx := context.Background()
	me, other := e.users[role], e.others[app.RoleOperator]
	if role == app.RoleOperator {
		other = e.others[app.RoleAdmin]
	}
	c := &app.ChangeRequest{Title: "fixture", ConnectorID: e.conn.ID, CreatedBy: other.ID, CreatedByEmail: other.Email,
		State: st, Revision: 1, Operations: []app.ChangeOperation{{Type: "ldap.user.create", Status: app.OpPending,
			Params: json.RawMessage(`{"uid":"carol","cn":"Carol Doe","sn":"Doe","mail":"carol@example.org"}`)}}}
	if k.creator {
		c.CreatedBy, c.CreatedByEmail = me.ID, me.Email
	}
	if k.ranBy != "" {
		c.Emergency, c.EmergencyJustification, c.EmergencyBy = true, "it could not wait", e.others[app.RoleAdmin].ID
		if k.ranBy == "me" {
			c.EmergencyBy = me.ID
		}
	}
	err := e.db.WithTx(ctx, func(tx app.Tx) error {
		if err := tx.CreateChangeRequest(ctx, c); err != nil {
			return err
		}
		if k.editor {
			if err := tx.AddContributor(ctx, c.ID, app.Contributor{UserID: me.ID, Email: me.Email}); err != nil {
				return err
			}
		}
		hash := app.ContentHash(c, e.conn)
		if st == app.StateApproved { // approved by someone who may: executing it is allowed
			third := e.others[app.RoleApprover]
			if err := tx.AddApproval(ctx, &app.Approval{ChangeRequestID: c.ID, UserID: third.ID, UserEmail: third.Email,
				Decision: app.DecisionApprove, Revision: c.Revision, ContentHash: hash, At: time.Now()}); err != nil {
				return err
			}
		}
		if !k.approved {
			return nil
		}
		return tx.AddApproval(ctx, &app.Approval{ChangeRequestID: c.ID, UserID: me.ID, UserEmail: me.Email,
			Decision: app.DecisionApprove, Revision: c.Revision, ContentHash: hash, At: time.Now()})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	got, err := e.db.ChangeRequestByID(ctx, c.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return got
}

// perform takes action on change request id through its use case, with
// valid input.
func perform(svc *app.Service, actor app.Actor, id int64, action string) error {
	ctx := context.Background()
	var err error
	switch action {
	case app.ActionEdit:
		title := "edited"
		_, err = svc.UpdateChange(ctx, actor, id, app.ChangePatch{Title: &title})
	case app.ActionSubmit:
		_, err = svc.SubmitChange(ctx, actor, id)
	case app.ActionApprove:
		_, err = svc.ApproveChange(ctx, actor, id, app.DecisionInput{Revision: revisionOf(svc, id), Comment: "looks right"})
	case app.ActionReject:
		_, err = svc.RejectChange(ctx, actor, id, app.DecisionInput{Revision: revisionOf(svc, id), Comment: "not like this"})
	case app.ActionCancel:
		_, err = svc.CancelChange(ctx, actor, id)
	case app.ActionExecute:
		_, err = svc.ExecuteChange(ctx, actor, id, app.ExecuteInput{})
	case app.ActionEmergencyExecute:
		_, err = svc.ExecuteChange(ctx, actor, id, app.ExecuteInput{Emergency: true, Justification: "the outage cannot wait"})
	case app.ActionResume:
		_, err = svc.ResumeChange(ctx, actor, id)
	case app.ActionRerunUnknown:
		_, err = svc.ResumeChangeWith(ctx, actor, id, app.ResumeInput{RerunUnknown: true})
	case app.ActionReview:
		_, err = svc.ReviewEmergency(ctx, actor, id, "was justified")
	default:
		err = fmt.Errorf("unknown action %q", action)
	}
	return err
}

// revisionOf is the request's current revision, as the approver read it.
func revisionOf(svc *app.Service, id int64) int64 {
	c, err := svc.GetChange(context.Background(), app.SystemActor("test"), id)
	if err != nil {
		return 0
	}
	return c.Revision
}

var allChangeActions = []string{app.ActionEdit, app.ActionSubmit, app.ActionApprove, app.ActionReject, app.ActionCancel,
	app.ActionExecute, app.ActionEmergencyExecute, app.ActionResume, app.ActionRerunUnknown, app.ActionReview}

// TestChangeActionsAndUseCasesAgree walks every state, role and way of
// having taken part: ChangeActions allows exactly what the rule book says,
// each allowed action succeeds through its use case, and each refused one
// is refused by the use case with the same error.
func TestChangeActionsAndUseCasesAgree(t *testing.T) {
	e := newActionsEnv(t)
	for _, st := range app.ChangeStates {
		for _, role := range app.Roles {
			for _, k := range contributions(st) {
				t.Run(fmt.Sprintf("%s/%s/%s", st, role, k), func(t *testing.T) {
					actor := app.UserActor(e.users[role])
					acts := e.svc.ChangeActions(actor, e.fixture(role, st, k))
					want := wantChangeActions(role, st, k)
					if got := acts.Names(); !slices.Equal(got, want) {
						t.Fatalf("allowed %v, want %v", got, want)
					}
					for _, action := range allChangeActions {
						c := e.fixture(role, st, k) // fresh: an action changes the request
						acts := e.svc.ChangeActions(actor, c)
						err := perform(e.svc, actor, c.ID, action)
						if acts.Allowed(action) {
							if err != nil || acts.Reason(action) != "" {
								t.Errorf("%s is allowed but the use case refused: %v", action, err)
							}
							continue
						}
						refusal := acts.Err(action)
						if err == nil {
							t.Errorf("%s is refused (%s) but the use case did it", action, acts.Reason(action))
							continue
						}
						if app.ErrCode(err) != app.ErrCode(refusal) || app.ErrMessage(err) != app.ErrMessage(refusal) {
							t.Errorf("%s: use case refused with %s %q, ChangeActions with %s %q", action,
								app.ErrCode(err), app.ErrMessage(err), app.ErrCode(refusal), app.ErrMessage(refusal))
						}
					}
				})
			}
		}
	}
}

func TestEmergencyExecuteOnApprovedRequest(t *testing.T) {
	e := newActionsEnv(t)
	admin := app.UserActor(e.users[app.RoleAdmin])
	c := e.fixture(app.RoleAdmin, app.StateApproved, contribution{})
	if !e.svc.ChangeActions(admin, c).Allowed(app.ActionEmergencyExecute) {
		t.Fatal("an admin is not offered an emergency execute of an approved request")
	}
	got, err := e.svc.ExecuteChange(context.Background(), admin, c.ID, app.ExecuteInput{Emergency: true, Justification: "the outage cannot wait"})
	if err != nil || got.State != app.StateExecuting || !got.Emergency || got.EmergencyBy != e.users[app.RoleAdmin].ID {
		t.Fatalf("emergency execute of an approved request: %+v, %v", got, err)
	}
}

func TestActionsReasons(t *testing.T) {
	e := newActionsEnv(t)
	viewer := app.UserActor(e.users[app.RoleViewer])
	acts := e.svc.ChangeActions(viewer, e.fixture(app.RoleViewer, app.StateDraft, contribution{}))
	if len(acts.Names()) != 0 || acts.Names() == nil {
		t.Fatalf("a viewer may %v", acts.Names())
	}
	if r := acts.Reason(app.ActionSubmit); r != "your role (viewer) cannot create, edit, submit or cancel change requests; an admin or an operator can" {
		t.Errorf("viewer submit reason %q", r)
	}
	if r := acts.Reason("no_such_action"); r == "" {
		t.Error("an unknown action has no reason to be refused")
	}
	op := app.UserActor(e.users[app.RoleOperator])
	acts = e.svc.ChangeActions(op, e.fixture(app.RoleOperator, app.StateSucceeded, contribution{creator: true}))
	if r := acts.Reason(app.ActionEdit); !strings.HasSuffix(r, ": it is succeeded") || app.ErrCode(acts.Err(app.ActionEdit)) != app.ECONFLICT {
		t.Errorf("operator edit of a succeeded request: reason %q", r)
	}

	list := e.svc.ListActions(op)
	if !list.Allowed(app.ActionCreateChangeRequest) || list.Allowed(app.ActionManageConnectors) ||
		list.Allowed(app.ActionCreateEnrollmentToken) || !list.Allowed(app.ActionAcknowledge) {
		t.Errorf("operator list actions %v", list.Names())
	}
	admin := app.UserActor(e.users[app.RoleAdmin])
	if got := e.svc.ConnectorActions(admin, e.conn).Names(); !slices.Equal(got, []string{"edit", "test", "sync", "delete"}) {
		t.Errorf("admin connector actions %v", got)
	}
	if got := e.svc.ConnectorActions(op, e.conn).Names(); len(got) != 0 {
		t.Errorf("operator connector actions %v", got)
	}
	ag := &app.Agent{ID: "0000000000000001", Hostname: "web-1"}
	if !e.svc.AgentActions(admin, ag).Allowed(app.ActionRevoke) || e.svc.AgentActions(op, ag).Allowed(app.ActionRevoke) {
		t.Error("only an admin may revoke an agent")
	}
	ag.Revoked = true
	if e.svc.AgentActions(admin, ag).Allowed(app.ActionRevoke) {
		t.Error("a revoked agent is offered a revoke")
	}
	d := &app.Drift{ID: 7}
	if !e.svc.DriftActions(op, d).Allowed(app.ActionAcknowledge) || e.svc.DriftActions(viewer, d).Allowed(app.ActionAcknowledge) {
		t.Error("acknowledge: operators may, viewers may not")
	}
	d.AcknowledgedBy = 1
	if e.svc.DriftActions(op, d).Allowed(app.ActionAcknowledge) {
		t.Error("an acknowledged record is offered an acknowledge")
	}
}
