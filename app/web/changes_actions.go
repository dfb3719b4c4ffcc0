package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nexplane/nexplane/app"
)

// changeActionFunc performs one action with the posted form.
type changeActionFunc func(ctx context.Context, actor app.Actor, id int64, form url.Values) (*app.ChangeRequest, error)

// changeAction wraps an action: on success a flash and back (303) to the
// detail page; a refused action (illegal transition, self-approval, bad
// input, a stale revision) goes back there too, with the reason as an
// error flash and the text the user typed kept for the form (keptFields).
func (h *handler) changeAction(done string, fn changeActionFunc) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, a *sessionUser) {
		id, ok := h.pathID(w, r, a, "change request")
		if !ok || !h.parseForm(w, r, a) {
			return
		}
		if _, err := fn(r.Context(), a.actor, id, r.PostForm); err != nil {
			h.refuse(w, r, a, changeURL(id), err, keptChangeInput(r, err))
			return
		}
		h.addFlash(w, r, a, fmt.Sprintf(done, id))
		redirect(w, r, changeURL(id))
	}
}

// keptChangeInput is what a refused action's form held, by the action
// (the approve/reject and review forms both call their field "comment"),
// and whether the refusal was a stale revision.
func keptChangeInput(r *http.Request, err error) map[string]string {
	kept := map[string]string{}
	action := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	switch f := r.PostForm; action {
	case "approve", "reject":
		kept["decision_comment"] = f.Get("comment")
	case "review":
		kept["review_comment"] = f.Get("comment")
	case "emergency":
		kept["justification"] = f.Get("justification")
	}
	if app.ErrCode(err) == app.EREVISIONMISMATCH {
		kept["changed"] = "1"
	}
	return kept
}

// decisionInput reads an approve or reject form: the hidden revision is the
// one the page showed (a missing or garbled one is 0, which app refuses).
func decisionInput(f url.Values) app.DecisionInput {
	rev, _ := strconv.ParseInt(f.Get("revision"), 10, 64)
	return app.DecisionInput{Revision: rev, Comment: f.Get("comment")}
}

// changeRoutes registers the change request pages.
func (h *handler) changeRoutes(mux *http.ServeMux) {
	mux.Handle("GET /changes", h.authed(h.listChanges))
	mux.Handle("GET /changes/new", h.authed(h.newChangeForm))
	mux.Handle("GET /changes/oprow", h.authed(h.opRowFragment))
	mux.Handle("POST /changes/new", h.authed(h.createChange))
	mux.Handle("GET /changes/{id}", h.authed(h.changeDetail))
	mux.Handle("GET /changes/{id}/live", h.authed(h.changeLive))
	mux.Handle("GET /changes/{id}/edit", h.authed(h.editChangeForm))
	mux.Handle("POST /changes/{id}/edit", h.authed(h.editChange))
	mux.Handle("POST /changes/{id}/operations/{op}/reveal", h.authed(h.revealSecret))

	s := h.svc
	mux.Handle("POST /changes/{id}/submit", h.authed(h.changeAction("Change request %d submitted for approval.",
		func(ctx context.Context, act app.Actor, id int64, _ url.Values) (*app.ChangeRequest, error) {
			return s.SubmitChange(ctx, act, id)
		})))
	mux.Handle("POST /changes/{id}/approve", h.authed(h.changeAction("You approved change request %d.",
		func(ctx context.Context, act app.Actor, id int64, f url.Values) (*app.ChangeRequest, error) {
			return s.ApproveChange(ctx, act, id, decisionInput(f))
		})))
	mux.Handle("POST /changes/{id}/reject", h.authed(h.changeAction("You rejected change request %d.",
		func(ctx context.Context, act app.Actor, id int64, f url.Values) (*app.ChangeRequest, error) {
			return s.RejectChange(ctx, act, id, decisionInput(f))
		})))
	mux.Handle("POST /changes/{id}/cancel", h.authed(h.changeAction("Change request %d cancelled.",
		func(ctx context.Context, act app.Actor, id int64, _ url.Values) (*app.ChangeRequest, error) {
			return s.CancelChange(ctx, act, id)
		})))
	mux.Handle("POST /changes/{id}/execute", h.authed(h.changeAction("Change request %d is executing.",
		func(ctx context.Context, act app.Actor, id int64, _ url.Values) (*app.ChangeRequest, error) {
			return s.ExecuteChange(ctx, act, id, app.ExecuteInput{})
		})))
	mux.Handle("POST /changes/{id}/emergency", h.authed(h.changeAction("Emergency change %d is executing; it waits for a retrospective review.",
		func(ctx context.Context, act app.Actor, id int64, f url.Values) (*app.ChangeRequest, error) {
			return s.ExecuteChange(ctx, act, id, app.ExecuteInput{Emergency: true, Justification: f.Get("justification")})
		})))
	mux.Handle("POST /changes/{id}/resume", h.authed(h.changeAction("Change request %d resumed.",
		func(ctx context.Context, act app.Actor, id int64, _ url.Values) (*app.ChangeRequest, error) {
			return s.ResumeChange(ctx, act, id)
		})))
	mux.Handle("POST /changes/{id}/rerun-unknown", h.authed(h.changeAction("Change request %d resumed; the operation whose outcome was unknown runs again.",
		func(ctx context.Context, act app.Actor, id int64, _ url.Values) (*app.ChangeRequest, error) {
			return s.ResumeChangeWith(ctx, act, id, app.ResumeInput{RerunUnknown: true})
		})))
	mux.Handle("POST /changes/{id}/review", h.authed(h.changeAction("Review of emergency change %d recorded.",
		func(ctx context.Context, act app.Actor, id int64, f url.Values) (*app.ChangeRequest, error) {
			return s.ReviewEmergency(ctx, act, id, f.Get("comment"))
		})))
}
