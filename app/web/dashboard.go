package web

import (
	"net/http"

	"github.com/nexplane/nexplane/views"
)

// dashboard is the landing page; its cards fill in with later releases.
func (h *handler) dashboard(w http.ResponseWriter, r *http.Request, a *authed) {
	h.render(w, r, http.StatusOK, views.Dashboard(h.page(a, "Dashboard", views.NavDashboard, h.popFlash(w, r, a))))
}

// placeholder serves a section that a later release brings, so the
// navigation is complete from the start.
func (h *handler) placeholder(title, nav string) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, a *authed) {
		h.render(w, r, http.StatusOK, views.PlaceholderPage(h.page(a, title, nav, "")))
	}
}
