package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what one change request may hold.
const (
	maxTitleLen       = 200
	maxDescriptionLen = 10000
	maxOperations     = 50
	maxCommentLen     = 2000
	minJustification  = 10
)

// OpInput is one operation as submitted.
type OpInput struct {
	Type   string
	Params json.RawMessage
}

// ChangeInput creates a change request.
type ChangeInput struct {
	Title       string
	Description string
	ConnectorID int64
	Operations  []OpInput
}

// ChangePatch edits a change request; nil fields stay.
type ChangePatch struct {
	Title       *string
	Description *string
	Operations  []OpInput // nil = unchanged
}

// idString is an id as audit events name their subject.
func idString(id int64) string { return strconv.FormatInt(id, 10) }

func validateText(field, v string, min, max int) error {
	n := utf8.RuneCountInString(strings.TrimSpace(v))
	if !utf8.ValidString(v) {
		return Errorf(EINVALID, "%s must be valid UTF-8", field)
	}
	if n < min {
		return Errorf(EINVALID, "%s is required", field)
	}
	if n > max {
		return Errorf(EINVALID, "%s is longer than %d characters", field, max)
	}
	return nil
}

// errIllegalTransition refuses an action the request's state does not allow.
func errIllegalTransition(c *ChangeRequest, action string) error {
	return Errorf(ECONFLICT, "cannot %s change request %d: it is %s", action, c.ID, c.State)
}

// CreateChange writes a draft change request (Operators and Admins).
func (s *Service) CreateChange(ctx context.Context, actor Actor, in ChangeInput) (*ChangeRequest, error) {
	if err := actor.require(ActWriteChanges); err != nil {
		return nil, err
	}
	if err := validateText("title", in.Title, 1, maxTitleLen); err != nil {
		return nil, err
	}
	if err := validateText("description", in.Description, 0, maxDescriptionLen); err != nil {
		return nil, err
	}
	if in.ConnectorID <= 0 {
		return nil, Errorf(EINVALID, "connector_id is required")
	}
	conn, err := s.store.ConnectorByID(ctx, in.ConnectorID)
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return nil, Errorf(EINVALID, "connector %d does not exist", in.ConnectorID)
		}
		return nil, err
	}
	ops, typed, err := s.decodeOps(conn, in.Operations)
	if err != nil {
		return nil, err
	}
	if err := s.plan(ctx, conn, ops, typed, false); err != nil {
		return nil, err
	}
	uid, _ := strconv.ParseInt(actor.ID, 10, 64)
	now := s.now().UTC()
	c := &ChangeRequest{Title: strings.TrimSpace(in.Title), Description: in.Description, ConnectorID: conn.ID,
		CreatedBy: uid, CreatedByEmail: actor.Email, State: StateDraft, Revision: 1,
		CreatedAt: now, UpdatedAt: now, Operations: ops, Contributors: []Contributor{{UserID: uid, Email: actor.Email}}}
	err = s.store.WithTx(ctx, func(tx Tx) error {
		if err := tx.CreateChangeRequest(ctx, c); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "change.created", "change_request", idString(c.ID),
			map[string]any{"title": c.Title, "connector_id": c.ConnectorID, "connector": conn.Name, "operations": opsAudit(ops)})
	})
	if err != nil {
		return nil, fmt.Errorf("create change request: %w", err)
	}
	return c, nil
}

// GetChange returns one change request (every role may read).
func (s *Service) GetChange(ctx context.Context, actor Actor, id int64) (*ChangeRequest, error) {
	if err := actor.require(ActReadChanges); err != nil {
		return nil, err
	}
	return s.store.ChangeRequestByID(ctx, id)
}

// ChangePage is one page of change requests.
type ChangePage struct {
	Changes    []ChangeRequest
	NextCursor string
}

// ListChanges returns change requests newest first (every role may read).
func (s *Service) ListChanges(ctx context.Context, actor Actor, f ChangeFilter, cursor string) (*ChangePage, error) {
	if err := actor.require(ActReadChanges); err != nil {
		return nil, err
	}
	want, before, err := pageRequest(f.Limit, 50, 200, cursor)
	if err != nil {
		return nil, err
	}
	f.BeforeID, f.Limit = before, want+1 // one extra tells whether another page exists
	cs, err := s.store.ListChangeRequests(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list change requests: %w", err)
	}
	page := &ChangePage{}
	page.Changes, page.NextCursor = pageOf(cs, want, func(c *ChangeRequest) int64 { return c.ID })
	return page, nil
}

// transition loads a change request in a transaction, lets fn check and
// change it, writes it and appends the audit event fn names.
func (s *Service) transition(ctx context.Context, actor Actor, id int64, fn func(tx Tx, c *ChangeRequest) (event string, payload map[string]any, err error)) (*ChangeRequest, error) {
	var out *ChangeRequest
	err := s.store.WithTx(ctx, func(tx Tx) error {
		if err := tx.LockChangeRequest(ctx, id); err != nil {
			return err
		}
		c, err := tx.ChangeRequestByID(ctx, id)
		if err != nil {
			return err
		}
		from := c.State
		event, payload, err := fn(tx, c)
		if err != nil {
			return err
		}
		c.UpdatedAt = s.now().UTC()
		if err := tx.UpdateChangeRequest(ctx, c); err != nil {
			return err
		}
		if payload == nil {
			payload = map[string]any{}
		}
		payload["from"], payload["to"] = from, c.State
		out = c
		return s.appendAudit(ctx, tx, actor, event, "change_request", idString(c.ID), payload)
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateChange edits a draft, or a submitted or approved request, which goes
// back to draft with its approvals voided.
func (s *Service) UpdateChange(ctx context.Context, actor Actor, id int64, p ChangePatch) (*ChangeRequest, error) {
	if err := permitChange(actor, ActionEdit); err != nil {
		return nil, err
	}
	if p.Title == nil && p.Description == nil && p.Operations == nil {
		return nil, Errorf(EINVALID, "nothing to change: give title, description and/or operations")
	}
	if p.Title != nil {
		if err := validateText("title", *p.Title, 1, maxTitleLen); err != nil {
			return nil, err
		}
	}
	if p.Description != nil {
		if err := validateText("description", *p.Description, 0, maxDescriptionLen); err != nil {
			return nil, err
		}
	}
	cur, err := s.store.ChangeRequestByID(ctx, id)
	if err != nil {
		return nil, err
	}
	var newOps []ChangeOperation
	if p.Operations != nil {
		conn, err := s.store.ConnectorByID(ctx, cur.ConnectorID)
		if err != nil {
			return nil, err
		}
		var typed []Operation
		if newOps, typed, err = s.decodeOps(conn, p.Operations); err != nil {
			return nil, err
		}
		if err := s.plan(ctx, conn, newOps, typed, false); err != nil {
			return nil, err
		}
	}
	c, err := s.transition(ctx, actor, id, func(tx Tx, c *ChangeRequest) (string, map[string]any, error) {
		if err := checkChange(actor, c, ActionEdit); err != nil {
			return "", nil, err
		}
		// The record names only what differs: a form that sends every
		// field back does not claim to have changed them all.
		payload := map[string]any{}
		if p.Title != nil && strings.TrimSpace(*p.Title) != c.Title {
			c.Title = strings.TrimSpace(*p.Title)
			payload["title"] = c.Title
		}
		if p.Description != nil && *p.Description != c.Description {
			c.Description = *p.Description
			payload["description_changed"] = true
		}
		if newOps != nil && !sameOperations(newOps, c.Operations) {
			if err := tx.ReplaceOperations(ctx, c.ID, newOps); err != nil {
				return "", nil, err
			}
			c.Operations = newOps
			payload["operations"] = opsAudit(newOps)
		}
		if len(payload) == 0 {
			return "", nil, errUnchanged
		}
		if uid := userID(actor); uid != 0 && !c.IsContributor(uid) {
			if err := tx.AddContributor(ctx, c.ID, Contributor{UserID: uid, Email: actor.Email}); err != nil {
				return "", nil, err
			}
			c.Contributors = append(c.Contributors, Contributor{UserID: uid, Email: actor.Email})
		}
		if c.EditVoidsApprovals() {
			if err := tx.VoidApprovals(ctx, c.ID); err != nil {
				return "", nil, err
			}
			for i := range c.Approvals {
				c.Approvals[i].Void = true
			}
			payload["approvals_voided"] = true
			c.State = StateDraft
		}
		c.Revision++
		return "change.edited", payload, nil
	})
	if errors.Is(err, errUnchanged) {
		// Nothing differs: no revision, no voided approval, no record.
		return s.store.ChangeRequestByID(ctx, id)
	}
	if err != nil {
		return nil, fmt.Errorf("edit change request %d: %w", id, err)
	}
	return c, nil
}

// SubmitChange sends a draft for approval, planning it against the target
// first so reviewers see what will happen.
func (s *Service) SubmitChange(ctx context.Context, actor Actor, id int64) (*ChangeRequest, error) {
	if err := permitChange(actor, ActionSubmit); err != nil {
		return nil, err
	}
	cur, err := s.store.ChangeRequestByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := checkChange(actor, cur, ActionSubmit); err != nil {
		return nil, err
	}
	conn, err := s.store.ConnectorByID(ctx, cur.ConnectorID)
	if err != nil {
		return nil, err
	}
	typed, err := s.typedOps(conn, cur.Operations)
	if err != nil {
		return nil, err
	}
	ops := append([]ChangeOperation(nil), cur.Operations...)
	if err := s.plan(ctx, conn, ops, typed, true); err != nil {
		return nil, err
	}
	c, err := s.transition(ctx, actor, id, func(tx Tx, c *ChangeRequest) (string, map[string]any, error) {
		if err := checkChange(actor, c, ActionSubmit); err != nil {
			return "", nil, err
		}
		if c.Revision != cur.Revision { // edited while it was being planned
			return "", nil, errIllegalTransition(c, "submit")
		}
		for i := range ops {
			if err := tx.UpdateOperation(ctx, &ops[i]); err != nil {
				return "", nil, err
			}
		}
		c.Operations = ops
		c.State = StateSubmitted
		c.SubmittedAt = s.now().UTC()
		plans := make([]string, len(ops))
		for i, o := range ops {
			plans[i] = o.Plan
		}
		return "change.submitted", map[string]any{"plans": plans, "required_approvals": conn.RequiredApprovals}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("submit change request %d: %w", id, err)
	}
	return c, nil
}

func userID(a Actor) int64 {
	id, _ := strconv.ParseInt(a.ID, 10, 64)
	return id
}

// DecisionInput is an approver's verdict on the revision they saw.
type DecisionInput struct {
	// Revision is the revision the approver read; a request that changed
	// since is refused with EREVISIONMISMATCH, never decided blindly.
	Revision int64
	Comment  string
}

// ApproveChange records an approval of the revision the approver saw; the
// request becomes approved when the connector's required number of valid
// approvals (TallyApprovals) is reached.
func (s *Service) ApproveChange(ctx context.Context, actor Actor, id int64, in DecisionInput) (*ChangeRequest, error) {
	return s.decide(ctx, actor, id, DecisionApprove, in)
}

// RejectChange rejects a submitted request; a comment is required.
func (s *Service) RejectChange(ctx context.Context, actor Actor, id int64, in DecisionInput) (*ChangeRequest, error) {
	if strings.TrimSpace(in.Comment) == "" {
		return nil, Errorf(EINVALID, "a comment is required to reject")
	}
	return s.decide(ctx, actor, id, DecisionReject, in)
}

// errRevisionMismatch refuses a decision taken on an older revision.
func errRevisionMismatch(c *ChangeRequest, seen int64) error {
	return &Error{Code: EREVISIONMISMATCH, CurrentRevision: c.Revision,
		Message: fmt.Sprintf("change request %d changed since you opened it: you saw revision %d, it is now at revision %d", c.ID, seen, c.Revision)}
}

func (s *Service) decide(ctx context.Context, actor Actor, id int64, d Decision, in DecisionInput) (*ChangeRequest, error) {
	action := ActionApprove
	if d == DecisionReject {
		action = ActionReject
	}
	if err := permitChange(actor, action); err != nil {
		return nil, err
	}
	if in.Revision <= 0 {
		return nil, Errorf(EINVALID, "revision is required: give the revision you are deciding on")
	}
	if err := validateText("comment", in.Comment, 0, maxCommentLen); err != nil {
		return nil, err
	}
	uid := userID(actor)
	c, err := s.transition(ctx, actor, id, func(tx Tx, c *ChangeRequest) (string, map[string]any, error) {
		if c.Revision != in.Revision {
			return "", nil, errRevisionMismatch(c, in.Revision)
		}
		if err := checkChange(actor, c, action); err != nil {
			return "", nil, err
		}
		conn, err := tx.ConnectorByID(ctx, c.ConnectorID)
		if err != nil {
			return "", nil, err
		}
		hash := ContentHash(c, conn)
		a := Approval{ChangeRequestID: c.ID, UserID: uid, UserEmail: actor.Email, Decision: d,
			Comment: in.Comment, Revision: c.Revision, ContentHash: hash, At: s.now().UTC()}
		if err := tx.AddApproval(ctx, &a); err != nil {
			return "", nil, err
		}
		c.Approvals = append(c.Approvals, a)
		payload := map[string]any{"comment": in.Comment, "revision": c.Revision, "content_hash": hash}
		if d == DecisionReject {
			c.State = StateRejected
			c.FinishedAt = a.At
			return "change.rejected", payload, nil
		}
		tally, err := TallyApprovals(ctx, tx, c, conn)
		if err != nil {
			return "", nil, err
		}
		if tally.Enough() {
			c.State = StateApproved
		}
		payload["approvals"], payload["required_approvals"] = tally.Valid, tally.Required
		return "change.approved", payload, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s change request %d: %w", d, id, err)
	}
	return c, nil
}

// CancelChange withdraws a draft or submitted request.
func (s *Service) CancelChange(ctx context.Context, actor Actor, id int64) (*ChangeRequest, error) {
	if err := permitChange(actor, ActionCancel); err != nil {
		return nil, err
	}
	c, err := s.transition(ctx, actor, id, func(tx Tx, c *ChangeRequest) (string, map[string]any, error) {
		if err := checkChange(actor, c, ActionCancel); err != nil {
			return "", nil, err
		}
		c.State = StateCancelled
		c.FinishedAt = s.now().UTC()
		return "change.cancelled", nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("cancel change request %d: %w", id, err)
	}
	return c, nil
}

// ExecuteInput asks for execution; Emergency lets an Admin run a submitted
// or approved request at once, with a justification.
type ExecuteInput struct {
	Emergency     bool
	Justification string
}

// ExecuteChange queues an approved request for the engine and returns at once.
func (s *Service) ExecuteChange(ctx context.Context, actor Actor, id int64, in ExecuteInput) (*ChangeRequest, error) {
	action := ActionExecute
	if in.Emergency {
		action = ActionEmergencyExecute
	}
	if err := permitChange(actor, action); err != nil {
		return nil, err
	}
	if in.Emergency {
		if err := validateText("justification", in.Justification, minJustification, maxCommentLen); err != nil {
			return nil, Errorf(EINVALID, "an emergency change needs a justification of at least %d characters", minJustification)
		}
	}
	var shortfall string
	c, err := s.transition(ctx, actor, id, func(tx Tx, c *ChangeRequest) (string, map[string]any, error) {
		if err := checkChange(actor, c, action); err != nil {
			return "", nil, err
		}
		if !in.Emergency {
			// Approvals are counted again from scratch: an approver may have
			// been disabled or demoted, or the policy raised, since.
			conn, err := tx.ConnectorByID(ctx, c.ConnectorID)
			if err != nil {
				return "", nil, err
			}
			tally, err := TallyApprovals(ctx, tx, c, conn)
			if err != nil {
				return "", nil, err
			}
			if shortfall = tally.Shortfall(); shortfall != "" {
				c.State = StateSubmitted
				return "change.approvals_insufficient", map[string]any{"reason": shortfall,
					"approvals": tally.Valid, "required_approvals": tally.Required}, nil
			}
		}
		if in.Emergency {
			c.Emergency = true
			c.EmergencyJustification = in.Justification
			c.EmergencyBy = userID(actor)
		}
		c.State = StateExecuting
		c.LeaseOwner, c.LeaseExpiresAt = "", time.Time{}
		c.StartedAt = s.now().UTC()
		if c.Emergency {
			return "change.emergency_executed", map[string]any{"justification": in.Justification}, nil
		}
		return "change.execution_started", nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("execute change request %d: %w", id, err)
	}
	if shortfall != "" {
		return nil, Errorf(ECONFLICT, "change request %d cannot run: %s; it is back to submitted for approval", id, shortfall)
	}
	s.queued(c.ID)
	return c, nil
}

// ResumeInput is how to resume an interrupted request.
type ResumeInput struct {
	// RerunUnknown runs again, without reconciling, the operations whose
	// outcome reconciliation could not tell (ActionRerunUnknown).
	RerunUnknown bool
}

// ResumeChange continues an interrupted request with its unfinished
// operations; the engine first reconciles one whose outcome is unknown.
func (s *Service) ResumeChange(ctx context.Context, actor Actor, id int64) (*ChangeRequest, error) {
	return s.ResumeChangeWith(ctx, actor, id, ResumeInput{})
}

// ResumeChangeWith is ResumeChange with options.
func (s *Service) ResumeChangeWith(ctx context.Context, actor Actor, id int64, in ResumeInput) (*ChangeRequest, error) {
	action := ActionResume
	if in.RerunUnknown {
		action = ActionRerunUnknown
	}
	if err := permitChange(actor, action); err != nil {
		return nil, err
	}
	c, err := s.transition(ctx, actor, id, func(tx Tx, c *ChangeRequest) (string, map[string]any, error) {
		if err := checkChange(actor, c, action); err != nil {
			return "", nil, err
		}
		var remaining int
		var rerun []int
		for i := range c.Operations {
			o := &c.Operations[i]
			if o.Status != OpSucceeded {
				remaining++
			}
			if in.RerunUnknown && o.Unsettled() {
				// Never started, as far as the engine is concerned: it runs.
				o.StartedAt, o.Error = time.Time{}, ""
				o.Status = OpPending
				if err := tx.UpdateOperation(ctx, o); err != nil {
					return "", nil, err
				}
				rerun = append(rerun, o.Seq)
			}
		}
		c.State = StateExecuting
		c.LeaseOwner, c.LeaseExpiresAt = "", time.Time{}
		c.InterruptCause, c.Requeues = "", 0 // a person decided: a fresh start
		payload := map[string]any{"remaining_operations": remaining}
		if in.RerunUnknown {
			payload["rerun_unknown"] = rerun
		}
		return "change.resumed", payload, nil
	})
	if err != nil {
		return nil, fmt.Errorf("resume change request %d: %w", id, err)
	}
	s.queued(c.ID)
	return c, nil
}

// ReviewEmergency records the retrospective review of an emergency change by
// an approver other than the admin who ran it.
func (s *Service) ReviewEmergency(ctx context.Context, actor Actor, id int64, comment string) (*ChangeRequest, error) {
	if err := permitChange(actor, ActionReview); err != nil {
		return nil, err
	}
	if err := validateText("comment", comment, 1, maxCommentLen); err != nil {
		return nil, err
	}
	uid := userID(actor)
	c, err := s.transition(ctx, actor, id, func(tx Tx, c *ChangeRequest) (string, map[string]any, error) {
		if err := checkChange(actor, c, ActionReview); err != nil {
			return "", nil, err
		}
		now := s.now().UTC()
		a := Approval{ChangeRequestID: c.ID, UserID: uid, UserEmail: actor.Email, Decision: DecisionReview,
			Comment: comment, Revision: c.Revision, At: now}
		if err := tx.AddApproval(ctx, &a); err != nil {
			return "", nil, err
		}
		c.Approvals = append(c.Approvals, a)
		c.ReviewedBy, c.ReviewedAt, c.ReviewComment = uid, now, comment
		return "change.emergency_reviewed", map[string]any{"comment": comment}, nil
	})
	if err != nil {
		return nil, fmt.Errorf("review change request %d: %w", id, err)
	}
	return c, nil
}
