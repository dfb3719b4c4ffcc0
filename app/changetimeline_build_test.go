package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestBuildChangeTimelineDurations: an operation's duration runs from its
// latest start to its end (a requeue and a second start included), a
// reconciled operation has none, the execution's runs from its start to its
// result, and an edit of a cut-off history names no revision it cannot know.
func TestBuildChangeTimelineDurations(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	user := Actor{Type: ActorUser, ID: "1", Email: "op@example.com", Role: RoleOperator}
	engine := SystemActor("engine")
	rec := func(s int, a Actor, event string, payload string) AuditEvent {
		return AuditEvent{At: at(s), ActorType: a.Type, ActorID: a.ID, ActorEmail: a.Email, Event: event,
			ResourceType: "change_request", ResourceID: "5", Payload: json.RawMessage(payload)}
	}
	c := &ChangeRequest{ID: 5, State: StateSucceeded, Revision: 1, StartedAt: at(10), FinishedAt: at(95),
		Operations: []ChangeOperation{{ID: 40, Seq: 0, Type: "a.one"}, {ID: 41, Seq: 1, Type: "a.two"}}}
	recs := []AuditEvent{
		rec(0, user, "change.created", `{}`),
		rec(10, user, "change.execution_started", `{}`),
		rec(12, engine, "change.operation_started", `{"operation_id":40,"seq":0,"type":"a.one"}`),
		rec(20, engine, "change.requeued", `{"cause":"server shut down","requeues":0}`),
		rec(30, engine, "change.operation_started", `{"operation_id":40,"seq":0,"type":"a.one"}`),
		rec(31, engine, "change.operation_succeeded", `{"operation_id":40,"seq":0,"type":"a.one","summary":"did one"}`),
		rec(40, engine, "change.operation_started", `{"operation_id":41,"seq":1,"type":"a.two"}`),
		rec(60, engine, "change.requeued", `{"cause":"worker lost its lease","requeues":1}`),
		rec(70, engine, "change.operation_reconciled", `{"operation_id":41,"seq":1,"type":"a.two","summary":"already there","reconciled":true}`),
		rec(95, engine, "change.succeeded", `{"from":"executing","to":"succeeded"}`),
		rec(96, SystemActor("server"), "change.secrets_expired", `{}`), // not a step
	}
	tl := buildChangeTimeline(c, recs, false)
	type want struct {
		kind       TimelineKind
		duration   time.Duration
		reason     string
		reconciled bool
	}
	wants := []want{
		{TimelineCreated, 0, "", false},
		{TimelineExecuted, 0, "", false},
		{TimelineOperationStarted, 0, "", false},
		{TimelineRequeued, 0, "server shut down", false},
		{TimelineOperationStarted, 0, "", false},
		{TimelineOperationFinished, time.Second, "did one", false},
		{TimelineOperationStarted, 0, "", false},
		{TimelineRequeued, 0, "worker lost its lease", false},
		{TimelineOperationFinished, 0, "already there", true},
		{TimelineFinished, 85 * time.Second, "", false},
	}
	if len(tl.Entries) != len(wants) {
		t.Fatalf("%d entries, want %d: %+v", len(tl.Entries), len(wants), tl.Entries)
	}
	for i, w := range wants {
		e := tl.Entries[i]
		timed := e.Kind == TimelineFinished || e.Kind == TimelineOperationFinished && !w.reconciled
		if e.Kind != w.kind || e.Duration != w.duration || e.Timed != timed || e.Reason != w.reason || e.Reconciled != w.reconciled {
			t.Errorf("entry %d = %s %s %q reconciled=%v, want %s %s %q reconciled=%v", i, e.Kind, e.Duration, e.Reason,
				e.Reconciled, w.kind, w.duration, w.reason, w.reconciled)
		}
	}
	if op := tl.Entries[8].Operation; op == nil || op.Number != 2 || op.Type != "a.two" {
		t.Errorf("reconciled entry's operation %+v", op)
	}
	if tl.Duration != 85*time.Second || !tl.ExecutionEnded || tl.ExecutedBy != "op@example.com" || tl.EmergencyExecution {
		t.Errorf("duration %s executed by %q emergency %v", tl.Duration, tl.ExecutedBy, tl.EmergencyExecution)
	}

	// The history is cut off before the creation: an edit's revision is
	// unknown (0), a decision still names the one it recorded.
	cut := buildChangeTimeline(&ChangeRequest{ID: 5, State: StateSubmitted, Revision: 7}, []AuditEvent{
		rec(0, user, "change.edited", `{"title":"x"}`),
		rec(1, user, "change.approved", `{"revision":7,"comment":"ok","approvals":1,"required_approvals":2}`),
	}, true)
	if !cut.Truncated || len(cut.Entries) != 2 || cut.Entries[0].Revision != 0 || cut.Entries[1].Revision != 7 ||
		cut.Entries[1].RequiredApprovals != 2 || cut.ExecutionEnded {
		t.Errorf("cut-off timeline %+v", cut)
	}
}

// TestTimelineCoversChangeEvents: every audit event about one change
// request is a timeline step, so a new event cannot silently go missing
// from the page. change.secrets_expired names no single request.
func TestTimelineCoversChangeEvents(t *testing.T) {
	for _, ev := range AuditEvents {
		if !strings.HasPrefix(ev, "change.") || ev == "change.secrets_expired" {
			continue
		}
		if _, ok := timelineKinds[ev]; !ok {
			t.Errorf("audit event %s has no timeline step", ev)
		}
	}
	for ev := range timelineKinds {
		if !IsAuditEvent(ev) {
			t.Errorf("timeline step for %s, which is not a catalogued audit event", ev)
		}
	}
}
