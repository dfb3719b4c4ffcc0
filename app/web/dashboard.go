package web

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/views"
)

// dashboardRows is how many change requests a dashboard card shows.
const dashboardRows = 10

// dashboard is the landing page: what waits for the user's approval, what
// ran recently and which emergency changes still need their review.
func (h *handler) dashboard(w http.ResponseWriter, r *http.Request, a *authed) {
	ctx := r.Context()
	sums := h.connectorSummaries(ctx, a)
	list := func(f app.ChangeFilter) []app.ChangeRequest {
		page, err := h.svc.ListChanges(ctx, a.actor, f, "")
		if err != nil {
			h.log.WarnContext(ctx, "dashboard: list change requests", "err", err)
			return nil
		}
		return page.Changes
	}
	var v views.DashboardView
	if app.Can(a.actor.Role, app.ActApproveChanges) {
		uid, _ := strconv.ParseInt(a.actor.ID, 10, 64)
		var mine []app.ChangeRequest
		for _, c := range list(app.ChangeFilter{State: app.StateSubmitted, Limit: 100}) {
			if c.CreatedBy != uid && len(mine) < dashboardRows {
				mine = append(mine, c)
			}
		}
		v.Cards = append(v.Cards, views.DashboardCard{Key: "approvals", Title: "Waiting for my approval",
			Rows: changeRows(mine, sums), Empty: "Nothing waits for your approval.", MoreURL: "/changes?status=submitted"})
	}
	done := append(list(app.ChangeFilter{State: app.StateSucceeded, Limit: dashboardRows}),
		list(app.ChangeFilter{State: app.StateFailed, Limit: dashboardRows})...)
	slices.SortFunc(done, func(x, y app.ChangeRequest) int {
		if c := y.FinishedAt.Compare(x.FinishedAt); c != 0 {
			return c
		}
		return cmp.Compare(y.ID, x.ID)
	})
	v.Cards = append(v.Cards, views.DashboardCard{Key: "executed", Title: "Recently executed",
		Rows: changeRows(done[:min(len(done), dashboardRows)], sums), Empty: "No change request has run yet."})
	v.Cards = append(v.Cards, views.DashboardCard{Key: "emergency-review", Title: "Emergency changes to review",
		Rows:  changeRows(list(app.ChangeFilter{NeedsReview: true, Limit: dashboardRows}), sums),
		Empty: "No emergency change waits for review."})
	h.render(w, r, http.StatusOK, views.Dashboard(h.page(a, "Dashboard", views.NavDashboard, h.popFlash(w, r, a)), v))
}

// placeholder serves a section that a later release brings, so the
// navigation is complete from the start.
func (h *handler) placeholder(title, nav string) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, a *authed) {
		h.render(w, r, http.StatusOK, views.PlaceholderPage(h.page(a, title, nav, "")))
	}
}
