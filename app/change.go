package app

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
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
	StateApproved:    {StateExecuting, StateDraft, StateSubmitted},                               // draft: edit; submitted: approvals voided or no longer enough
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
	// InterruptCause says in words why execution last stopped before it
	// finished (server shut down, worker lost its lease, database error,
	// an outcome that could not be told); "" when it never did.
	InterruptCause string
	// Requeues counts the times a worker stopped without handing the
	// request back (a crash, a lost lease, a database error); after
	// MaxRequeues the request waits for a person instead of looping.
	Requeues int

	CreatedAt   time.Time
	UpdatedAt   time.Time
	SubmittedAt time.Time
	StartedAt   time.Time // execution start
	FinishedAt  time.Time

	Operations []ChangeOperation // by Seq
	Approvals  []Approval        // oldest first, void ones included
	// Contributors are every user who created or edited any revision, the
	// creator first; none of them may approve, reject or review it.
	Contributors []Contributor
}

// ShownInterruptCause is the cause people should see: why an interrupted
// request stopped, or what a running one recovered from; "" otherwise (a
// finished request's history is in its audit records).
func (c *ChangeRequest) ShownInterruptCause() string {
	if c.State == StateInterrupted || c.State == StateExecuting {
		return c.InterruptCause
	}
	return ""
}

// Contributor is a user who wrote some revision of a change request.
type Contributor struct {
	UserID int64
	Email  string
}

// IsContributor reports whether user id created or edited any revision.
func (c *ChangeRequest) IsContributor(id int64) bool {
	if id == c.CreatedBy {
		return true
	}
	for _, k := range c.Contributors {
		if k.UserID == id {
			return true
		}
	}
	return false
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
	// ContentHash is ContentHash of what was approved or rejected ("" for
	// reviews and for approvals older than the hash, which never count).
	ContentHash string
	Void        bool // set when an edit or a connector change voided it
	At          time.Time
}

// ApprovalsOfRevision counts the distinct approvers of the current revision
// whose approval was not voided: what pages show. Whether they still count
// (approver enabled, connector unchanged, …) is TallyApprovals' answer.
func (c *ChangeRequest) ApprovalsOfRevision() int {
	seen := map[int64]bool{}
	for _, a := range c.Approvals {
		if a.Decision == DecisionApprove && !a.Void && a.Revision == c.Revision {
			seen[a.UserID] = true
		}
	}
	return len(seen)
}

// ContentHash is the hex SHA-256 over what an approval signs: the
// operations in order (type and canonical parameters), the connector's id
// and its version (which bumps when its config, credentials or approval
// policy change). Title and description do not change what runs.
func ContentHash(c *ChangeRequest, conn *Connector) string {
	type op struct {
		Type   string `json:"type"`
		Params any    `json:"params"`
	}
	doc := struct {
		ConnectorID      int64 `json:"connector_id"`
		ConnectorVersion int64 `json:"connector_version"`
		Operations       []op  `json:"operations"`
	}{ConnectorID: conn.ID, ConnectorVersion: conn.Version, Operations: make([]op, 0, len(c.Operations))}
	for _, o := range c.Operations {
		doc.Operations = append(doc.Operations, op{Type: o.Type, Params: canonicalJSON(o.Params)})
	}
	b, err := json.Marshal(doc)
	if err != nil { // cannot happen: every value came from JSON
		panic(fmt.Sprintf("content hash: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// canonicalJSON decodes raw so that marshalling it again sorts object keys
// and drops insignificant space; numbers keep their exact text.
func canonicalJSON(raw json.RawMessage) any {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return string(raw) // not JSON: hash the bytes as they are
	}
	return v
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
