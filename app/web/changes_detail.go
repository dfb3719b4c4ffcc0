package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/views"
)

// changeDetailView builds the detail page for the current user from the
// request and its history.
func (h *handler) changeDetailView(ctx context.Context, a *sessionUser, tl *app.ChangeTimeline) views.ChangeDetailView {
	c := tl.Change
	sums := h.connectorSummaries(ctx, a)
	v := views.ChangeDetailView{ID: strconv.FormatInt(c.ID, 10), URL: changeURL(c.ID), Title: c.Title,
		Description: c.Description, State: string(c.State), Connector: connectorLabel(sums, c.ConnectorID),
		RequiredApprovals: requiredApprovals(sums, c.ConnectorID),
		CreatedBy:         c.CreatedByEmail, Revision: strconv.FormatInt(c.Revision, 10), Created: formatTime(c.CreatedAt),
		Submitted: formatOpt(c.SubmittedAt), Started: formatOpt(c.StartedAt), Finished: formatOpt(c.FinishedAt),
		ApprovalCount: strconv.Itoa(c.ApprovalsOfRevision()), Emergency: c.Emergency, Justification: c.EmergencyJustification,
		NeedsReview: c.NeedsReview(), ReviewedAt: formatOpt(c.ReviewedAt), ReviewComment: c.ReviewComment,
		Polling: c.State.Running(), InterruptCause: c.ShownInterruptCause()}
	emails := make([]string, 0, len(c.Contributors))
	for _, k := range c.Contributors {
		emails = append(emails, k.Email)
	}
	v.Contributors = strings.Join(emails, ", ")
	v.Timeline, v.TimelineTruncated = timelineView(tl, h.now()), tl.Truncated
	v.AuditURL = "/audit?resource_type=change_request&resource_id=" + v.ID
	v.ExecutedBy, v.ExecutedEmergency = tl.ExecutedBy, tl.EmergencyExecution
	if tl.ExecutionEnded {
		v.Duration = formatDuration(tl.Duration)
	}
	for _, ap := range c.Approvals {
		v.Approvals = append(v.Approvals, views.ApprovalView{Email: ap.UserEmail, Decision: string(ap.Decision),
			Comment: ap.Comment, Revision: strconv.FormatInt(ap.Revision, 10), Void: ap.Void, At: formatTime(ap.At)})
		if ap.Decision == app.DecisionReview && ap.UserID == c.ReviewedBy {
			v.ReviewedBy = ap.UserEmail
		}
	}
	reveals := map[int64]bool{}
	if rs, err := h.svc.PendingReveals(ctx, a.actor, c.ID); err == nil {
		for _, rv := range rs {
			reveals[rv.OperationID] = true
		}
	} else {
		h.log.WarnContext(ctx, "pending reveals", "change", c.ID, "err", err)
	}
	for _, o := range c.Operations {
		ov := views.OperationView{ID: strconv.FormatInt(o.ID, 10), Number: strconv.Itoa(o.Seq + 1), Type: o.Type,
			Params: prettyJSON(o.Params), Plan: o.Plan, Status: string(o.Status), Error: o.Error,
			Started: formatOpt(o.StartedAt), Finished: formatOpt(o.FinishedAt)}
		if len(o.Result) > 0 && string(o.Result) != "null" {
			var res struct {
				Summary string         `json:"summary"`
				Details map[string]any `json:"details"`
			}
			if json.Unmarshal(o.Result, &res) == nil && (res.Summary != "" || len(res.Details) > 0) {
				ov.Summary = res.Summary
				if len(res.Details) > 0 {
					b, _ := json.MarshalIndent(res.Details, "", "  ")
					ov.Details = string(b)
				}
			} else {
				ov.Details = prettyJSON(o.Result)
			}
		}
		if reveals[o.ID] {
			ov.RevealURL = v.URL + "/operations/" + ov.ID + "/reveal"
		}
		v.Operations = append(v.Operations, ov)
	}

	acts := h.svc.ChangeActions(a.actor, c)
	v.Actions = views.ChangeActions{
		Edit:      acts.Allowed(app.ActionEdit),
		Submit:    acts.Allowed(app.ActionSubmit),
		Approve:   acts.Allowed(app.ActionApprove),
		Reject:    acts.Allowed(app.ActionReject),
		Cancel:    acts.Allowed(app.ActionCancel),
		Execute:   acts.Allowed(app.ActionExecute),
		Emergency: acts.Allowed(app.ActionEmergencyExecute),
		Resume:    acts.Allowed(app.ActionResume),
		Review:    acts.Allowed(app.ActionReview),

		RerunUnknown: acts.Allowed(app.ActionRerunUnknown),
	}
	return v
}

// changeDetail shows one change request.
func (h *handler) changeDetail(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	c, v, ok := h.loadChange(w, r, a)
	if !ok {
		return
	}
	if kept := h.popKept(w, r, a, changeURL(c.ID)); kept != nil {
		v.Kept = views.KeptChangeInput{DecisionComment: kept["decision_comment"], Justification: kept["justification"],
			ReviewComment: kept["review_comment"]}
		v.Changed = kept["changed"] != ""
	}
	h.render(w, r, http.StatusOK, views.ChangeDetailPage(h.page(a, c.Title, views.NavChanges, h.popFlash(w, r, a)), v))
}

// changeLive is the polled status and operations block. When the request
// has stopped executing, htmx is told to reload the page so the actions
// and approvals match the new state too.
func (h *handler) changeLive(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	c, v, ok := h.loadChange(w, r, a)
	if !ok {
		return
	}
	if !isHTMX(r) {
		h.render(w, r, http.StatusOK, views.ChangeDetailPage(h.page(a, c.Title, views.NavChanges, ""), v))
		return
	}
	if !c.State.Running() {
		w.Header().Set("HX-Refresh", "true")
	}
	h.render(w, r, http.StatusOK, views.ChangeLive(v), views.ChangeLiveFragment)
}

// loadChange reads the change request the path names and builds its view;
// false means an error page was sent.
func (h *handler) loadChange(w http.ResponseWriter, r *http.Request, a *sessionUser) (*app.ChangeRequest, views.ChangeDetailView, bool) {
	id, ok := h.pathID(w, r, a, "change request")
	if !ok {
		return nil, views.ChangeDetailView{}, false
	}
	tl, err := h.svc.ChangeTimeline(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return nil, views.ChangeDetailView{}, false
	}
	return tl.Change, h.changeDetailView(r.Context(), a, tl), true
}

// revealSecret moves an operation's one-time secret onto a reveal page
// and sends the browser there; this response never holds it. A refusal
// goes back to the request's page with the reason.
func (h *handler) revealSecret(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "change request")
	if !ok {
		return
	}
	opID, err := strconv.ParseInt(r.PathValue("op"), 10, 64)
	if err != nil || opID <= 0 {
		h.renderStatus(w, r, a, http.StatusNotFound, "Not found", "There is no such operation.")
		return
	}
	c, err := h.svc.GetChange(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	opName := "operation " + strconv.FormatInt(opID, 10)
	for _, o := range c.Operations {
		if o.ID == opID {
			opName = fmt.Sprintf("operation %d (%s)", o.Seq+1, o.Type)
		}
	}
	page := app.OneTimeSecret{Title: "Secret from " + opName, Back: changeURL(id),
		Facts: []app.RevealFact{{Label: "Change request", Value: fmt.Sprintf("%d: %s", c.ID, c.Title)}}}
	rid, err := h.svc.StashOperationSecret(r.Context(), a.actor, currentSessionID(a), id, opID, page)
	if err != nil {
		h.refuse(w, r, a, changeURL(id), err, nil)
		return
	}
	redirect(w, r, revealURL(rid))
}

// timelineView words a request's history for the page; now gives each
// step its relative hint.
func timelineView(tl *app.ChangeTimeline, now time.Time) []views.TimelineEntryView {
	out := make([]views.TimelineEntryView, 0, len(tl.Entries))
	for _, e := range tl.Entries {
		v := views.TimelineEntryView{Kind: string(e.Kind), Actor: e.Actor, System: e.System, At: isoTime(e.At),
			Ago: relativeTime(now, e.At), Detail: e.Comment, Outcome: e.Outcome}
		if e.System {
			v.Actor = "Nexplane (" + e.Actor + ")"
		}
		if e.Timed {
			v.Duration = formatDuration(e.Duration)
		}
		rev := ""
		if e.Revision > 0 {
			rev = " revision " + strconv.FormatInt(e.Revision, 10)
		}
		op := "Operation"
		if e.Operation != nil {
			op = fmt.Sprintf("Operation %d (%s)", e.Operation.Number, e.Operation.Type)
		}
		tally := ""
		if e.RequiredApprovals > 0 {
			tally = fmt.Sprintf(" (%d of %d required approvals)", e.Approvals, e.RequiredApprovals)
		}
		switch e.Kind {
		case app.TimelineCreated:
			v.Title = "Created"
		case app.TimelineEdited:
			v.Title = "Edited into" + rev
			if rev == "" {
				v.Title = "Edited"
			}
		case app.TimelineSubmitted:
			v.Title = "Submitted" + rev + " for approval"
		case app.TimelineApproved:
			v.Title = "Approved" + rev + tally
		case app.TimelineRejected:
			v.Title = "Rejected" + rev
		case app.TimelineCancelled:
			v.Title = "Cancelled"
		case app.TimelineApprovalsVoided:
			v.Title, v.Detail = "Approvals voided", e.Reason
		case app.TimelineApprovalsInsufficient:
			v.Title, v.Detail = "Execution refused: not enough approvals"+tally, e.Reason
		case app.TimelineExecuted:
			v.Title = "Executed" + rev
		case app.TimelineEmergencyExecuted:
			v.Title = "Emergency execution of" + rev + " without approval"
		case app.TimelineOperationStarted:
			v.Title = op + " started"
		case app.TimelineOperationFinished:
			v.Title, v.Detail = op+" "+e.Outcome, e.Reason
			if e.Reconciled {
				v.Title = op + " found already applied"
			}
		case app.TimelineRequeued:
			v.Title, v.Detail = "Handed back to the queue", e.Reason
		case app.TimelineInterrupted:
			v.Title, v.Detail = "Interrupted", e.Reason
		case app.TimelineResumed:
			v.Title = "Resumed"
		case app.TimelineFinished:
			v.Title, v.Detail = "Finished: "+e.Outcome, e.Reason
		case app.TimelineReviewed:
			v.Title = "Emergency change reviewed"
		case app.TimelineSecretRevealed:
			v.Title = "One-time secret of " + strings.ToLower(op[:1]) + op[1:] + " revealed"
		default:
			v.Title = string(e.Kind)
		}
		out = append(out, v)
	}
	return out
}
