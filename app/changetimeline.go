package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// TimelineKind names one step in a change request's history.
type TimelineKind string

const (
	TimelineCreated               TimelineKind = "created"
	TimelineEdited                TimelineKind = "edited"
	TimelineSubmitted             TimelineKind = "submitted"
	TimelineApproved              TimelineKind = "approved"
	TimelineRejected              TimelineKind = "rejected"
	TimelineCancelled             TimelineKind = "cancelled"
	TimelineApprovalsVoided       TimelineKind = "approvals_voided"
	TimelineApprovalsInsufficient TimelineKind = "approvals_insufficient"
	TimelineExecuted              TimelineKind = "executed"
	TimelineEmergencyExecuted     TimelineKind = "emergency_executed"
	TimelineOperationStarted      TimelineKind = "operation_started"
	// TimelineOperationFinished is an operation's end; Outcome says how.
	TimelineOperationFinished TimelineKind = "operation_finished"
	TimelineRequeued          TimelineKind = "requeued"
	TimelineInterrupted       TimelineKind = "interrupted"
	TimelineResumed           TimelineKind = "resumed"
	// TimelineFinished is the request's final result; Outcome is its state.
	TimelineFinished       TimelineKind = "finished"
	TimelineReviewed       TimelineKind = "reviewed"
	TimelineSecretRevealed TimelineKind = "secret_revealed"
)

// maxTimelineAuditRecords bounds one timeline; a request that ran 50
// operations with every requeue allowed stays well within it.
const maxTimelineAuditRecords = MaxAuditLimit

// timelineKinds maps the audit events of a change request to their step.
var timelineKinds = map[string]TimelineKind{
	"change.created":                TimelineCreated,
	"change.edited":                 TimelineEdited,
	"change.submitted":              TimelineSubmitted,
	"change.approved":               TimelineApproved,
	"change.rejected":               TimelineRejected,
	"change.cancelled":              TimelineCancelled,
	"change.approvals_voided":       TimelineApprovalsVoided,
	"change.approvals_insufficient": TimelineApprovalsInsufficient,
	"change.execution_started":      TimelineExecuted,
	"change.emergency_executed":     TimelineEmergencyExecuted,
	"change.operation_started":      TimelineOperationStarted,
	"change.operation_succeeded":    TimelineOperationFinished,
	"change.operation_failed":       TimelineOperationFinished,
	"change.operation_reconciled":   TimelineOperationFinished,
	"change.requeued":               TimelineRequeued,
	"change.interrupted":            TimelineInterrupted,
	"change.resumed":                TimelineResumed,
	"change.succeeded":              TimelineFinished,
	"change.failed":                 TimelineFinished,
	"change.emergency_reviewed":     TimelineReviewed,
	"change.secret_revealed":        TimelineSecretRevealed,
}

// TimelineOperation names the operation a step is about.
type TimelineOperation struct {
	ID     int64
	Number int // 1-based, as pages number operations
	Type   string
}

// TimelineEntry is one step in a change request's history.
type TimelineEntry struct {
	At   time.Time
	Kind TimelineKind
	// Actor is the email of the person who acted, or the name of the part
	// of Nexplane that did (engine, server) when System is set.
	Actor  string
	System bool
	// Revision is the revision the step applies to: the one created,
	// edited into, submitted, decided on or executed; 0 for engine steps.
	Revision int64
	// Comment is a decision's or review's comment, or an emergency's
	// justification.
	Comment   string
	Operation *TimelineOperation
	// Outcome is how an operation ended (succeeded, failed) or the
	// request's final state.
	Outcome string
	// Reconciled marks an operation found already applied after a stop.
	Reconciled bool
	// Duration is an operation's run (its start to its end) or the whole
	// execution's (to the final result) when Timed; an operation found
	// already applied has none.
	Duration time.Duration
	Timed    bool
	// Reason says why: a failed operation's error, a requeue's cause, an
	// interruption's or a shortfall's reason, a summary of what was done.
	Reason string
	// Approvals and RequiredApprovals count a decision's valid approvals.
	Approvals, RequiredApprovals int
}

// ChangeTimeline is a change request with its history, oldest step first.
type ChangeTimeline struct {
	Change  *ChangeRequest
	Entries []TimelineEntry
	// Truncated says the oldest steps may be left out: the request has as
	// many audit records as one timeline shows, or more (the audit log has
	// them all).
	Truncated bool
	// ExecutedBy is who first started the execution ("" when it never
	// ran); EmergencyExecution that they did so without approvals.
	ExecutedBy         string
	EmergencyExecution bool
	// Duration runs from the execution's start to its final result, once
	// ExecutionEnded.
	Duration       time.Duration
	ExecutionEnded bool
}

// ChangeTimeline returns a change request and its history, built from its
// audit records and operations. Whoever may read the request may read it.
func (s *Service) ChangeTimeline(ctx context.Context, actor Actor, id int64) (*ChangeTimeline, error) {
	if err := actor.require(ActReadChanges); err != nil {
		return nil, err
	}
	c, err := s.store.ChangeRequestByID(ctx, id)
	if err != nil {
		return nil, err
	}
	// One indexed query (resource type, id) for every record of the
	// request, newest first up to the cap.
	recs, err := s.store.ListAudit(ctx, AuditFilter{ResourceType: "change_request", ResourceID: idString(id),
		Limit: maxTimelineAuditRecords})
	if err != nil {
		return nil, fmt.Errorf("change request %d history: %w", id, err)
	}
	slices.Reverse(recs)
	return buildChangeTimeline(c, recs, len(recs) >= maxTimelineAuditRecords), nil
}

// timelinePayload is the union of the fields change request audit records
// carry that a timeline shows.
type timelinePayload struct {
	Revision          int64  `json:"revision"`
	Comment           string `json:"comment"`
	Justification     string `json:"justification"`
	OperationID       int64  `json:"operation_id"`
	Seq               *int   `json:"seq"`
	Type              string `json:"type"`
	Summary           string `json:"summary"`
	Error             string `json:"error"`
	Reason            string `json:"reason"`
	Cause             string `json:"cause"`
	Approvals         int    `json:"approvals"`
	RequiredApprovals int    `json:"required_approvals"`
	Reconciled        bool   `json:"reconciled"`
}

// buildChangeTimeline turns a request's audit records, oldest first, into
// its timeline. truncated says the oldest records are missing, so the
// revision count cannot start from the creation.
func buildChangeTimeline(c *ChangeRequest, recs []AuditEvent, truncated bool) *ChangeTimeline {
	tl := &ChangeTimeline{Change: c, Truncated: truncated, EmergencyExecution: c.Emergency,
		Entries: make([]TimelineEntry, 0, len(recs))}
	ops := make(map[int64]ChangeOperation, len(c.Operations))
	for _, o := range c.Operations {
		ops[o.ID] = o
	}
	started := map[int64]time.Time{} // operation id → its latest start
	var revision int64               // 0: unknown, when the creation is cut off
	for i := range recs {
		r := &recs[i]
		kind, ok := timelineKinds[r.Event]
		if !ok {
			continue // not a step of this request's life (say, secrets expiring)
		}
		var p timelinePayload
		_ = json.Unmarshal(r.Payload, &p) // a field it lacks stays empty
		e := TimelineEntry{At: r.At, Kind: kind, Actor: r.ActorEmail, System: r.ActorType != ActorUser}
		if e.System || e.Actor == "" {
			e.Actor = r.ActorID
		}
		switch kind {
		case TimelineCreated:
			revision = 1
			e.Revision = revision
		case TimelineEdited:
			if revision > 0 {
				revision++
			}
			e.Revision = revision
		case TimelineSubmitted, TimelineCancelled, TimelineResumed:
			e.Revision = revision
		case TimelineApproved, TimelineRejected:
			e.Revision, e.Comment = p.Revision, p.Comment
			e.Approvals, e.RequiredApprovals = p.Approvals, p.RequiredApprovals
		case TimelineReviewed:
			e.Revision, e.Comment = revision, p.Comment
		case TimelineExecuted, TimelineEmergencyExecuted:
			e.Revision, e.Comment = revision, p.Justification
			if tl.ExecutedBy == "" {
				tl.ExecutedBy = e.Actor
			}
		case TimelineApprovalsInsufficient, TimelineApprovalsVoided, TimelineInterrupted:
			e.Reason = p.Reason
			e.Approvals, e.RequiredApprovals = p.Approvals, p.RequiredApprovals
		case TimelineRequeued:
			e.Reason = p.Cause
		case TimelineOperationStarted:
			started[p.OperationID] = r.At
		case TimelineOperationFinished:
			e.Reconciled = p.Reconciled || r.Event == "change.operation_reconciled"
			e.Outcome, e.Reason = string(OpSucceeded), p.Summary
			if r.Event == "change.operation_failed" {
				e.Outcome, e.Reason = string(OpFailed), p.Error
			}
			if at, ok := started[p.OperationID]; ok && !e.Reconciled {
				e.Duration, e.Timed = r.At.Sub(at), true
			}
			delete(started, p.OperationID)
		case TimelineFinished:
			e.Outcome = r.Event[len("change."):]
			e.Reason = p.Reason
			if !c.StartedAt.IsZero() && !c.FinishedAt.IsZero() {
				e.Duration, e.Timed = c.FinishedAt.Sub(c.StartedAt), true
			}
		}
		if p.OperationID != 0 {
			e.Operation = timelineOperation(ops, p)
		}
		tl.Entries = append(tl.Entries, e)
	}
	if c.State.Terminal() && !c.StartedAt.IsZero() && !c.FinishedAt.IsZero() {
		tl.Duration, tl.ExecutionEnded = c.FinishedAt.Sub(c.StartedAt), true
	}
	return tl
}

// timelineOperation names the operation a record is about, from the stored
// row when it still exists (an edit replaces them) or else the record.
func timelineOperation(ops map[int64]ChangeOperation, p timelinePayload) *TimelineOperation {
	if o, ok := ops[p.OperationID]; ok {
		return &TimelineOperation{ID: o.ID, Number: o.Seq + 1, Type: o.Type}
	}
	op := &TimelineOperation{ID: p.OperationID, Type: p.Type}
	if p.Seq != nil {
		op.Number = *p.Seq + 1
	}
	return op
}
