package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
)

type operationJSON struct {
	ID         int64           `json:"id"`
	Seq        int             `json:"seq"`
	Type       string          `json:"type"`
	Params     json.RawMessage `json:"params"`
	Plan       string          `json:"plan"`
	Status     app.OpStatus    `json:"status"`
	Result     json.RawMessage `json:"result"`
	Error      string          `json:"error,omitempty"`
	StartedAt  *string         `json:"started_at"`
	FinishedAt *string         `json:"finished_at"`
}

type approvalJSON struct {
	UserID   int64        `json:"user_id"`
	Email    string       `json:"email"`
	Decision app.Decision `json:"decision"`
	Comment  string       `json:"comment"`
	Revision int64        `json:"revision"`
	// ContentHash is what the decision signed (app.ContentHash).
	ContentHash string `json:"content_hash,omitempty"`
	Void        bool   `json:"void"`
	At          string `json:"at"`
}

// contributorJSON is a user who created or edited some revision.
type contributorJSON struct {
	ID    int64  `json:"id"`
	Email string `json:"email"`
}

type emergencyJSON struct {
	Justification string  `json:"justification"`
	ExecutedBy    int64   `json:"executed_by"`
	NeedsReview   bool    `json:"needs_review"`
	ReviewedBy    int64   `json:"reviewed_by,omitempty"`
	ReviewedAt    *string `json:"reviewed_at"`
	ReviewComment string  `json:"review_comment,omitempty"`
}

type changeJSON struct {
	ID          int64           `json:"id"`
	Title       string          `json:"title"`
	Description string          `json:"description"`
	ConnectorID int64           `json:"connector_id"`
	Status      app.ChangeState `json:"status"`
	Revision    int64           `json:"revision"`
	CreatedBy   actorJSON       `json:"created_by"`
	// Contributors created or edited some revision; none may approve it.
	Contributors []contributorJSON `json:"contributors"`
	Approvals    []approvalJSON    `json:"approvals"`
	// ApprovalCount counts distinct, non-void approvals of this revision.
	ApprovalCount int             `json:"approval_count"`
	Emergency     *emergencyJSON  `json:"emergency"`
	Operations    []operationJSON `json:"operations"`
	CreatedAt     string          `json:"created_at"`
	UpdatedAt     string          `json:"updated_at"`
	SubmittedAt   *string         `json:"submitted_at"`
	StartedAt     *string         `json:"started_at"`
	FinishedAt    *string         `json:"finished_at"`
	// InterruptCause is why execution last stopped before it finished
	// (server shut down, worker lost its lease, database error, an outcome
	// that could not be told); "" when it never did.
	InterruptCause string `json:"interrupt_cause"`
	// AllowedActions are what the caller may do to it now (app.ChangeActions).
	AllowedActions []string `json:"allowed_actions"`
}

func optTime(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := rfc3339(t)
	return &s
}

func toChangeJSON(c *app.ChangeRequest, acts app.Actions) changeJSON {
	out := changeJSON{ID: c.ID, Title: c.Title, Description: c.Description, ConnectorID: c.ConnectorID,
		Status: c.State, Revision: c.Revision,
		CreatedBy:     actorJSON{Type: app.ActorUser, ID: strconv.FormatInt(c.CreatedBy, 10), Email: c.CreatedByEmail},
		ApprovalCount: c.ApprovalsOfRevision(), Approvals: []approvalJSON{}, Operations: []operationJSON{},
		CreatedAt: rfc3339(c.CreatedAt), UpdatedAt: rfc3339(c.UpdatedAt),
		SubmittedAt: optTime(c.SubmittedAt), StartedAt: optTime(c.StartedAt), FinishedAt: optTime(c.FinishedAt),
		InterruptCause: c.InterruptCause, AllowedActions: acts.Names()}
	for _, a := range c.Approvals {
		out.Approvals = append(out.Approvals, approvalJSON{UserID: a.UserID, Email: a.UserEmail, Decision: a.Decision,
			Comment: a.Comment, Revision: a.Revision, ContentHash: a.ContentHash, Void: a.Void, At: rfc3339(a.At)})
	}
	out.Contributors = []contributorJSON{}
	for _, k := range c.Contributors {
		out.Contributors = append(out.Contributors, contributorJSON{ID: k.UserID, Email: k.Email})
	}
	for _, o := range c.Operations {
		res := o.Result
		if len(res) == 0 {
			res = json.RawMessage("null")
		}
		out.Operations = append(out.Operations, operationJSON{ID: o.ID, Seq: o.Seq, Type: o.Type, Params: o.Params,
			Plan: o.Plan, Status: o.Status, Result: res, Error: o.Error,
			StartedAt: optTime(o.StartedAt), FinishedAt: optTime(o.FinishedAt)})
	}
	if c.Emergency {
		out.Emergency = &emergencyJSON{Justification: c.EmergencyJustification, ExecutedBy: c.EmergencyBy,
			NeedsReview: c.NeedsReview(), ReviewedBy: c.ReviewedBy, ReviewedAt: optTime(c.ReviewedAt), ReviewComment: c.ReviewComment}
	}
	return out
}

type opRequest struct {
	Type   string          `json:"type"`
	Params json.RawMessage `json:"params"`
}

type changeRequest struct {
	Title       *string     `json:"title"`
	Description *string     `json:"description"`
	ConnectorID *int64      `json:"connector_id"`
	Operations  []opRequest `json:"operations"`
}

func toOpInputs(in []opRequest) []app.OpInput {
	if in == nil {
		return nil
	}
	out := make([]app.OpInput, 0, len(in))
	for _, o := range in {
		out = append(out, app.OpInput{Type: o.Type, Params: o.Params})
	}
	return out
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func (a *api) createChange(w http.ResponseWriter, r *http.Request) {
	act := actorFrom(r.Context())
	if err := a.svc.ListActions(act).Err(app.ActionCreateChangeRequest); err != nil {
		a.fail(w, r, err) // before reading the body
		return
	}
	var req changeRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	c, err := a.svc.CreateChange(r.Context(), act, app.ChangeInput{Title: deref(req.Title), Description: deref(req.Description),
		ConnectorID: deref(req.ConnectorID), Operations: toOpInputs(req.Operations)})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, toChangeJSON(c, a.svc.ChangeActions(act, c)))
}

func (a *api) listChanges(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var f app.ChangeFilter
	if v := q.Get("status"); v != "" {
		st, err := app.ParseChangeState(v)
		if err != nil {
			a.fail(w, r, err)
			return
		}
		f.State = st
	}
	var err error
	if f.ConnectorID, err = queryID(r, "connector"); err == nil {
		if f.CreatedBy, err = queryID(r, "creator"); err == nil {
			f.Limit, err = queryLimit(r, 200)
		}
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	f.NeedsReview = q.Get("needs_review") == "true"
	act := actorFrom(r.Context())
	page, err := a.svc.ListChanges(r.Context(), act, f, q.Get("cursor"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]changeJSON, 0, len(page.Changes))
	for i := range page.Changes {
		out = append(out, toChangeJSON(&page.Changes[i], a.svc.ChangeActions(act, &page.Changes[i])))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"change_requests": out, "next_cursor": page.NextCursor})
}

func (a *api) getChange(w http.ResponseWriter, r *http.Request) {
	a.changeAction(w, r, func(act app.Actor, id int64) (*app.ChangeRequest, error) {
		return a.svc.GetChange(r.Context(), act, id)
	})
}

func (a *api) updateChange(w http.ResponseWriter, r *http.Request) {
	var req changeRequest
	a.changeActionWithBody(w, r, &req, false, func(act app.Actor, id int64) (*app.ChangeRequest, error) {
		if req.ConnectorID != nil {
			return nil, app.Errorf(app.EINVALID, "a change request's connector cannot change; create a new request")
		}
		return a.svc.UpdateChange(r.Context(), act, id, app.ChangePatch{Title: req.Title, Description: req.Description,
			Operations: toOpInputs(req.Operations)})
	})
}

type commentRequest struct {
	Comment string `json:"comment"`
}

type executeRequest struct {
	Emergency     bool   `json:"emergency"`
	Justification string `json:"justification"`
}

func (a *api) submitChange(w http.ResponseWriter, r *http.Request) {
	a.changeActionWithBody(w, r, &struct{}{}, true, func(act app.Actor, id int64) (*app.ChangeRequest, error) {
		return a.svc.SubmitChange(r.Context(), act, id)
	})
}

// decisionRequest is an approve or reject: the revision the approver saw
// is required, so a decision never lands on content nobody read.
type decisionRequest struct {
	Revision int64  `json:"revision"`
	Comment  string `json:"comment"`
}

func (a *api) approveChange(w http.ResponseWriter, r *http.Request) {
	var req decisionRequest
	a.changeActionWithBody(w, r, &req, false, func(act app.Actor, id int64) (*app.ChangeRequest, error) {
		return a.svc.ApproveChange(r.Context(), act, id, app.DecisionInput{Revision: req.Revision, Comment: req.Comment})
	})
}

func (a *api) rejectChange(w http.ResponseWriter, r *http.Request) {
	var req decisionRequest
	a.changeActionWithBody(w, r, &req, false, func(act app.Actor, id int64) (*app.ChangeRequest, error) {
		return a.svc.RejectChange(r.Context(), act, id, app.DecisionInput{Revision: req.Revision, Comment: req.Comment})
	})
}

func (a *api) cancelChange(w http.ResponseWriter, r *http.Request) {
	a.changeActionWithBody(w, r, &struct{}{}, true, func(act app.Actor, id int64) (*app.ChangeRequest, error) {
		return a.svc.CancelChange(r.Context(), act, id)
	})
}

func (a *api) executeChange(w http.ResponseWriter, r *http.Request) {
	var req executeRequest
	a.changeActionWithBody(w, r, &req, true, func(act app.Actor, id int64) (*app.ChangeRequest, error) {
		return a.svc.ExecuteChange(r.Context(), act, id, app.ExecuteInput{Emergency: req.Emergency, Justification: req.Justification})
	})
}

func (a *api) resumeChange(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RerunUnknown bool `json:"rerun_unknown"`
	}
	a.changeActionWithBody(w, r, &req, true, func(act app.Actor, id int64) (*app.ChangeRequest, error) {
		return a.svc.ResumeChangeWith(r.Context(), act, id, app.ResumeInput{RerunUnknown: req.RerunUnknown})
	})
}

func (a *api) reviewChange(w http.ResponseWriter, r *http.Request) {
	var req commentRequest
	a.changeActionWithBody(w, r, &req, false, func(act app.Actor, id int64) (*app.ChangeRequest, error) {
		return a.svc.ReviewEmergency(r.Context(), act, id, req.Comment)
	})
}

// revealSecret returns a one-time secret (a generated password) and erases it.
func (a *api) revealSecret(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	opID, err := pathID(r, "op")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	secret, err := a.svc.RevealSecret(r.Context(), actorFrom(r.Context()), id, opID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"secret": string(secret)})
	clear(secret)
}

func (a *api) changeAction(w http.ResponseWriter, r *http.Request, fn func(app.Actor, int64) (*app.ChangeRequest, error)) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	act := actorFrom(r.Context())
	c, err := fn(act, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toChangeJSON(c, a.svc.ChangeActions(act, c)))
}

func (a *api) changeActionWithBody(w http.ResponseWriter, r *http.Request, body any, optional bool, fn func(app.Actor, int64) (*app.ChangeRequest, error)) {
	dec := decode
	if optional {
		dec = decodeOptional
	}
	if err := dec(w, r, body); err != nil {
		a.fail(w, r, err)
		return
	}
	a.changeAction(w, r, fn)
}
