package app

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// ChangeState is where a change request is in its life.
type ChangeState string

const (
	StateDraft       ChangeState = "draft"
	StateSubmitted   ChangeState = "submitted"
	StateApproved    ChangeState = "approved"
	StateExecuting   ChangeState = "executing"
	StateSucceeded   ChangeState = "succeeded"
	StateFailed      ChangeState = "failed"
	StateRejected    ChangeState = "rejected"
	StateCancelled   ChangeState = "cancelled"
	StateInterrupted ChangeState = "interrupted"
)

// ChangeStates lists every state, in lifecycle order.
var ChangeStates = []ChangeState{StateDraft, StateSubmitted, StateApproved, StateExecuting,
	StateSucceeded, StateFailed, StateRejected, StateCancelled, StateInterrupted}

// ParseChangeState validates a state name (list filters).
func ParseChangeState(s string) (ChangeState, error) {
	for _, st := range ChangeStates {
		if string(st) == s {
			return st, nil
		}
	}
	return "", Errorf(EINVALID, "unknown state %q", s)
}

// transitions is the state machine of ARCHITECTURE.md: from -> allowed to.
var transitions = map[ChangeState][]ChangeState{
	StateDraft:       {StateSubmitted, StateCancelled},
	StateSubmitted:   {StateApproved, StateRejected, StateCancelled, StateDraft, StateExecuting}, // draft: edit; executing: emergency
	StateApproved:    {StateExecuting, StateDraft},                                               // draft: edit voids approvals
	StateExecuting:   {StateSucceeded, StateFailed, StateInterrupted},
	StateInterrupted: {StateExecuting},
}

// CanTransition reports whether from -> to is a legal move.
func CanTransition(from, to ChangeState) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Terminal reports whether no transition leaves the state.
func (s ChangeState) Terminal() bool { return len(transitions[s]) == 0 }

// Running reports whether the engine is working on a request in this state,
// so its page follows the operations live.
func (s ChangeState) Running() bool { return s == StateExecuting }

// ChangeRequest is a reviewed, approved, executed and audited change.
type ChangeRequest struct {
	ID             int64
	Title          string
	Description    string
	ConnectorID    int64
	CreatedBy      int64 // user id
	CreatedByEmail string
	State          ChangeState
	// Revision bumps on every edit; approvals count only for the revision
	// they approved (an edit voids them).
	Revision int64

	Emergency              bool
	EmergencyJustification string
	EmergencyBy            int64
	// ReviewedBy is the approver who recorded the retrospective review of an
	// emergency change; 0 while it waits for one.
	ReviewedBy    int64
	ReviewedAt    time.Time
	ReviewComment string

	// LeaseOwner and LeaseExpiresAt claim an executing request for one
	// worker; an empty owner means queued for the next worker.
	LeaseOwner     string
	LeaseExpiresAt time.Time

	CreatedAt   time.Time
	UpdatedAt   time.Time
	SubmittedAt time.Time
	StartedAt   time.Time // execution start
	FinishedAt  time.Time

	Operations []ChangeOperation // by Seq
	Approvals  []Approval        // oldest first, void ones included
}

// OpStatus is one operation's execution status.
type OpStatus string

const (
	OpPending   OpStatus = "pending"
	OpRunning   OpStatus = "running"
	OpSucceeded OpStatus = "succeeded"
	OpFailed    OpStatus = "failed"
	OpSkipped   OpStatus = "skipped"
)

// ChangeOperation is one operation of a change request as stored.
type ChangeOperation struct {
	ID              int64
	ChangeRequestID int64
	Seq             int // 0-based order of execution
	Type            string
	Params          json.RawMessage // never secret
	Plan            string
	Status          OpStatus
	Result          json.RawMessage // OpResult.Summary and Details; never secret
	Error           string
	StartedAt       time.Time
	FinishedAt      time.Time
}

// Decision is an approver's verdict.
type Decision string

const (
	DecisionApprove Decision = "approve"
	DecisionReject  Decision = "reject"
	DecisionReview  Decision = "review" // retrospective review of an emergency change
)

// Approval is one approver's decision on one revision.
type Approval struct {
	ID              int64
	ChangeRequestID int64
	UserID          int64
	UserEmail       string
	Decision        Decision
	Comment         string
	Revision        int64
	Void            bool // set when an edit voided it
	At              time.Time
}

// ValidApprovals counts distinct non-void approvals of the current revision.
func (c *ChangeRequest) ValidApprovals() int {
	seen := map[int64]bool{}
	for _, a := range c.Approvals {
		if a.Decision == DecisionApprove && !a.Void && a.Revision == c.Revision {
			seen[a.UserID] = true
		}
	}
	return len(seen)
}

// EditVoidsApprovals reports whether editing the request sends it back to
// draft and voids its approvals.
func (c *ChangeRequest) EditVoidsApprovals() bool { return c.State != StateDraft }

// NeedsReview reports an emergency change still waiting for its
// retrospective review.
func (c *ChangeRequest) NeedsReview() bool { return c.Emergency && c.ReviewedBy == 0 }

// ChangeFilter selects change requests, newest first.
type ChangeFilter struct {
	State       ChangeState // empty = any
	ConnectorID int64
	CreatedBy   int64
	NeedsReview bool // emergency changes awaiting retrospective review
	BeforeID    int64
	Limit       int
}

// Reveal is a secret waiting to be shown once to the user who may see it.
type Reveal struct {
	ID              int64
	ChangeRequestID int64
	OperationID     int64
	UserID          int64 // who may see it: the change request's creator
	Sealed          []byte
	ExpiresAt       time.Time
	CreatedAt       time.Time
}

// RevealTTL is how long an unshown secret is kept before it is erased.
const RevealTTL = 24 * time.Hour

func credentialsAD(connectorID int64) string {
	return "connector:" + strconv.FormatInt(connectorID, 10) + ":credentials"
}

// RevealAD binds a sealed reveal to its row's owner and purpose.
func RevealAD(changeID, operationID int64) string {
	return fmt.Sprintf("change:%d:operation:%d:reveal", changeID, operationID)
}
