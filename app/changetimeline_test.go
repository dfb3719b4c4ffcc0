package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
	"github.com/nexplane/nexplane/app/engine"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// step is what a test expects of one timeline entry.
type step struct {
	kind     app.TimelineKind
	actor    string
	revision int64
	op       int    // operation number, 0 = none
	outcome  string // "" = none
	comment  string
}

func (s step) String() string {
	return fmt.Sprintf("%s by %s rev %d op %d %s %q", s.kind, s.actor, s.revision, s.op, s.outcome, s.comment)
}

func stepOf(e app.TimelineEntry) step {
	s := step{kind: e.Kind, actor: e.Actor, revision: e.Revision, outcome: e.Outcome, comment: e.Comment}
	if e.Operation != nil {
		s.op = e.Operation.Number
	}
	return s
}

func requireSteps(t *testing.T, tl *app.ChangeTimeline, want []step) {
	t.Helper()
	got := make([]step, len(tl.Entries))
	for i, e := range tl.Entries {
		got[i] = stepOf(e)
		if i > 0 && e.At.Before(tl.Entries[i-1].At) {
			t.Errorf("entry %d (%s) at %s is before entry %d at %s", i, e.Kind, e.At, i-1, tl.Entries[i-1].At)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("timeline:\n got %v\nwant %v", got, want)
	}
}

// TestChangeTimeline walks requests through their lives with a real engine
// against a real slapd and reads their timelines: created, edited,
// submitted, approved (with the revision), executed with two operations
// that succeed; one whose second operation fails; an emergency one; a
// rejected one. Who
// cannot read the request cannot read its timeline.
func TestChangeTimeline(t *testing.T) {
	testkit.BothDrivers(t, func(t *testing.T, driver string) {
		dir := ldaptest.Start(t)
		clock := testkit.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
		k := testkit.NewService(t, testkit.Options{Driver: driver, Clock: clock,
			Drivers: func(reg *app.Registry, _ *store.DB, _ *testkit.Clock) { ldap.Register(reg) },
			Engine:  &engine.Config{Poll: 20 * time.Millisecond}})
		svc, ctx := k.Service, context.Background()
		user := func(email string, role app.Role) app.Actor {
			return app.UserActor(testkit.MustCreateUser(t, svc, email, role))
		}
		author, editor := user("author@example.com", app.RoleOperator), user("editor@example.com", app.RoleOperator)
		appr, admin := user("appr@example.com", app.RoleApprover), user("admin@example.com", app.RoleAdmin)
		viewer := user("viewer@example.com", app.RoleViewer)
		conn, err := svc.CreateConnector(ctx, app.SystemActor("test"), app.ConnectorInput{Name: "dir", Type: "ldap",
			Config: dir.ConfigJSON(), Credentials: dir.CredentialsJSON()})
		if err != nil {
			t.Fatal(err)
		}
		uidOp := func(typ, uid string) app.OpInput {
			return app.OpInput{Type: typ, Params: json.RawMessage(`{"uid":"` + uid + `"}`)}
		}
		must := func(c *app.ChangeRequest, err error) *app.ChangeRequest {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(time.Minute) // each person's step a minute after the last
			return c
		}
		// execute starts the engine's work: the clock stands still until the
		// request is done, or the engine's lease would expire under it and the
		// request be handed back (a requeue the timeline would rightly show).
		execute := func(c *app.ChangeRequest, err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		wait := func(id int64, want app.ChangeState) *app.ChangeTimeline {
			t.Helper()
			deadline := time.Now().Add(30 * time.Second)
			for {
				tl, err := svc.ChangeTimeline(ctx, viewer, id)
				if err != nil {
					t.Fatal(err)
				}
				if tl.Change.State == want {
					return tl
				}
				if tl.Change.State != app.StateExecuting || time.Now().After(deadline) {
					t.Fatalf("change %d is %s, want %s", id, tl.Change.State, want)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}

		// Succeeded: written by two people, approved at revision 2.
		c := must(svc.CreateChange(ctx, author, app.ChangeInput{Title: "Offboard bob", ConnectorID: conn.ID,
			Operations: []app.OpInput{uidOp("ldap.user.disable", "bob")}}))
		must(svc.UpdateChange(ctx, editor, c.ID, app.ChangePatch{Operations: []app.OpInput{
			uidOp("ldap.user.disable", "bob"),
			{Type: "ldap.group.remove_member", Params: json.RawMessage(`{"group":"devs","uid":"bob"}`)}}}))
		must(svc.SubmitChange(ctx, author, c.ID))
		must(svc.ApproveChange(ctx, appr, c.ID, app.DecisionInput{Revision: 2, Comment: "ticket checked"}))
		execute(svc.ExecuteChange(ctx, author, c.ID, app.ExecuteInput{}))
		tl := wait(c.ID, app.StateSucceeded)
		requireSteps(t, tl, []step{
			{kind: app.TimelineCreated, actor: author.Email, revision: 1},
			{kind: app.TimelineEdited, actor: editor.Email, revision: 2},
			{kind: app.TimelineSubmitted, actor: author.Email, revision: 2},
			{kind: app.TimelineApproved, actor: appr.Email, revision: 2, comment: "ticket checked"},
			{kind: app.TimelineExecuted, actor: author.Email, revision: 2},
			{kind: app.TimelineOperationStarted, actor: "engine", op: 1},
			{kind: app.TimelineOperationFinished, actor: "engine", op: 1, outcome: "succeeded"},
			{kind: app.TimelineOperationStarted, actor: "engine", op: 2},
			{kind: app.TimelineOperationFinished, actor: "engine", op: 2, outcome: "succeeded"},
			{kind: app.TimelineFinished, actor: "engine", outcome: "succeeded"},
		})
		if tl.ExecutedBy != author.Email || tl.EmergencyExecution || tl.Truncated {
			t.Errorf("executed by %q emergency %v truncated %v", tl.ExecutedBy, tl.EmergencyExecution, tl.Truncated)
		}
		if e := tl.Entries[3]; e.Approvals != 1 || e.RequiredApprovals != 1 || e.System {
			t.Errorf("approval entry %+v", e)
		}
		if e := tl.Entries[6]; !e.System || e.Operation.Type != "ldap.user.disable" || !strings.Contains(e.Reason, "bob") {
			t.Errorf("first operation's end %+v", e)
		}
		// The engine ran at one frozen instant after execute was asked.
		if want := tl.Change.FinishedAt.Sub(tl.Change.StartedAt); tl.Duration != want || !tl.ExecutionEnded || tl.Change.StartedAt.IsZero() {
			t.Errorf("duration %s, want %s (started %s)", tl.Duration, want, tl.Change.StartedAt)
		}

		// Failed: the second operation finds carol there already.
		carol := app.OpInput{Type: "ldap.user.create", Params: json.RawMessage(`{"uid":"carol","cn":"Carol Doe","sn":"Doe","mail":"carol@example.org"}`)}
		c = must(svc.CreateChange(ctx, author, app.ChangeInput{Title: "Create carol twice", ConnectorID: conn.ID,
			Operations: []app.OpInput{carol, carol}}))
		must(svc.SubmitChange(ctx, author, c.ID))
		must(svc.ApproveChange(ctx, appr, c.ID, app.DecisionInput{Revision: 1}))
		execute(svc.ExecuteChange(ctx, admin, c.ID, app.ExecuteInput{}))
		tl = wait(c.ID, app.StateFailed)
		requireSteps(t, tl, []step{
			{kind: app.TimelineCreated, actor: author.Email, revision: 1},
			{kind: app.TimelineSubmitted, actor: author.Email, revision: 1},
			{kind: app.TimelineApproved, actor: appr.Email, revision: 1},
			{kind: app.TimelineExecuted, actor: admin.Email, revision: 1},
			{kind: app.TimelineOperationStarted, actor: "engine", op: 1},
			{kind: app.TimelineOperationFinished, actor: "engine", op: 1, outcome: "succeeded"},
			{kind: app.TimelineOperationStarted, actor: "engine", op: 2},
			{kind: app.TimelineOperationFinished, actor: "engine", op: 2, outcome: "failed"},
			{kind: app.TimelineFinished, actor: "engine", outcome: "failed"},
		})
		if e := tl.Entries[7]; e.Reason == "" || e.Reason != tl.Change.Operations[1].Error {
			t.Errorf("failed operation's reason %q, want its error %q", e.Reason, tl.Change.Operations[1].Error)
		}
		if tl.ExecutedBy != admin.Email {
			t.Errorf("executed by %q", tl.ExecutedBy)
		}

		// Emergency: run by an admin without approval, then reviewed.
		c = must(svc.CreateChange(ctx, author, app.ChangeInput{Title: "Enable bob now", ConnectorID: conn.ID,
			Operations: []app.OpInput{uidOp("ldap.user.enable", "bob")}}))
		must(svc.SubmitChange(ctx, author, c.ID))
		execute(svc.ExecuteChange(ctx, admin, c.ID, app.ExecuteInput{Emergency: true, Justification: "production is down"}))
		wait(c.ID, app.StateSucceeded)
		must(svc.ReviewEmergency(ctx, appr, c.ID, "was justified"))
		tl, err = svc.ChangeTimeline(ctx, viewer, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		requireSteps(t, tl, []step{
			{kind: app.TimelineCreated, actor: author.Email, revision: 1},
			{kind: app.TimelineSubmitted, actor: author.Email, revision: 1},
			{kind: app.TimelineEmergencyExecuted, actor: admin.Email, revision: 1, comment: "production is down"},
			{kind: app.TimelineOperationStarted, actor: "engine", op: 1},
			{kind: app.TimelineOperationFinished, actor: "engine", op: 1, outcome: "succeeded"},
			{kind: app.TimelineFinished, actor: "engine", outcome: "succeeded"},
			{kind: app.TimelineReviewed, actor: appr.Email, revision: 1, comment: "was justified"},
		})
		if tl.ExecutedBy != admin.Email || !tl.EmergencyExecution {
			t.Errorf("executed by %q emergency %v", tl.ExecutedBy, tl.EmergencyExecution)
		}

		// Rejected: never executed, so no executor and no duration.
		c = must(svc.CreateChange(ctx, author, app.ChangeInput{Title: "Enable alice", ConnectorID: conn.ID,
			Operations: []app.OpInput{uidOp("ldap.user.enable", "alice")}}))
		must(svc.SubmitChange(ctx, author, c.ID))
		must(svc.RejectChange(ctx, appr, c.ID, app.DecisionInput{Revision: 1, Comment: "no ticket"}))
		tl, err = svc.ChangeTimeline(ctx, viewer, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		requireSteps(t, tl, []step{
			{kind: app.TimelineCreated, actor: author.Email, revision: 1},
			{kind: app.TimelineSubmitted, actor: author.Email, revision: 1},
			{kind: app.TimelineRejected, actor: appr.Email, revision: 1, comment: "no ticket"},
		})
		if tl.ExecutedBy != "" || tl.ExecutionEnded {
			t.Errorf("rejected request: executed by %q, execution ended %v", tl.ExecutedBy, tl.ExecutionEnded)
		}

		// Same visibility as the request itself.
		for _, who := range []struct {
			name  string
			actor app.Actor
		}{
			{"agent", app.Actor{Type: app.ActorAgent, ID: "7"}},
			{"user without a role", app.Actor{Type: app.ActorUser, ID: "99", Email: "x@example.com"}},
			{"unknown role", app.Actor{Type: app.ActorUser, ID: "99", Email: "x@example.com", Role: "root"}},
		} {
			_, getErr := svc.GetChange(ctx, who.actor, c.ID)
			if _, err := svc.ChangeTimeline(ctx, who.actor, c.ID); app.ErrCode(err) != app.EFORBIDDEN || app.ErrCode(getErr) != app.EFORBIDDEN {
				t.Errorf("%s: timeline %v, request %v; want both forbidden", who.name, err, getErr)
			}
		}
		if _, err := svc.ChangeTimeline(ctx, viewer, c.ID+100); app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("missing request: %v, want not found", err)
		}
	})
}
