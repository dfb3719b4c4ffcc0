package web

import (
	"net/http"
	"strings"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/views"
)

// revealRoutes registers the one-time reveal page. Every POST that makes a
// secret stashes it (app.Service.StashRevealPage) and redirects here, so no
// POST response, flash, session value or URL ever holds the secret.
func (h *handler) revealRoutes(mux *http.ServeMux) {
	mux.Handle("GET /reveal/{id}", h.authed(h.revealPage))
}

// revealURL is the address of a stashed reveal page.
func revealURL(id string) string { return "/reveal/" + id }

// showOnce stashes content for this user's console session and sends the
// browser (303) to the page that shows it once.
func (h *handler) showOnce(w http.ResponseWriter, r *http.Request, a *sessionUser, content app.OneTimeSecret) {
	id, err := h.svc.StashRevealPage(r.Context(), a.actor, currentSessionID(a), content)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	redirect(w, r, revealURL(id))
}

// revealPage shows a stashed secret once; the row is gone before the page
// is written. A reload, another session or another user gets 410.
func (h *handler) revealPage(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	s, err := h.svc.TakeRevealPage(r.Context(), a.actor, currentSessionID(a), r.PathValue("id"))
	if err != nil {
		if app.ErrCode(err) == app.ENOTFOUND {
			h.render(w, r, http.StatusGone, views.RevealGonePage(h.page(a, "Secret no longer available", "", "")))
			return
		}
		h.renderError(w, r, a, err)
		return
	}
	v := views.RevealView{Title: s.Title, Back: s.Back, BackLabel: "Back", Secret: s.Secret, Codes: s.Codes}
	for _, f := range s.Facts {
		v.Facts = append(v.Facts, views.RevealFact{Label: f.Label, Value: f.Value})
	}
	nav := ""
	switch s.Kind {
	case app.RevealEnrollmentToken:
		nav, v.BackLabel = views.NavAgents, "Back to agents"
		v.Notice = "Copy the command now: the server keeps only a hash of the token."
		v.Command, v.URLMissing = h.enrollCommand(s.Secret)
		v.Secret = ""
	case app.RevealAPIToken:
		v.BackLabel = "Back to the tokens"
		v.Notice = "Copy the token now: the server keeps only a hash of it."
	case app.RevealRecoveryCodes:
		v.BackLabel = "I have saved them"
		v.Notice = "Keep these codes somewhere safe; each works once instead of a code from the app."
	case app.RevealOperationSecret:
		nav, v.BackLabel = views.NavChanges, "Back to the change request"
		v.Notice = "Copy it now: it has been erased from the server."
	}
	h.render(w, r, http.StatusOK, views.RevealPage(h.page(a, s.Title, nav, h.popFlash(w, r, a)), v))
}

// enrollCommand is what an admin runs on a host to enroll it with token,
// as the README shows it: the agent listener's configured public address
// (a placeholder, and true, when none is configured) and the CA
// fingerprint the agent pins.
func (h *handler) enrollCommand(token string) (string, bool) {
	server := strings.TrimRight(h.agentURL, "/")
	missing := server == ""
	if missing {
		server = agentURLPlaceholder
	}
	return "sudo nexplane-agent enroll --server " + server + " --token " + token + " --ca-sha256 " + h.svc.AgentCAFingerprint() + "\n" +
		"sudo systemctl enable --now nexplane-agent", missing
}
