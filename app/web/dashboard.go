package web

import (
	"cmp"
	"context"
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
	v.Findings = h.dashboardFindings(ctx, a)
	if ds, err := h.svc.ListDrift(ctx, a.actor, app.DriftFilter{OpenOnly: true, Limit: dashboardRows + 1}); err != nil {
		h.log.WarnContext(ctx, "dashboard: list drift", "err", err)
	} else {
		v.Drift.More = len(ds) > dashboardRows
		v.Drift.Rows = driftRows(ds[:min(len(ds), dashboardRows)], sums)
	}
	v.CanAcknowledge = app.Can(a.actor.Role, app.ActAcknowledgeDrift)
	v.Agents = h.dashboardAgents(ctx, a)
	h.render(w, r, http.StatusOK, views.Dashboard(h.page(a, "Dashboard", views.NavDashboard, h.popFlash(w, r, a)), v))
}

// dashboardFindingScan bounds how many open findings the dashboard counts;
// past it the counts say "N+".
const dashboardFindingScan = 10000

// dashboardFindings counts the open findings by severity and lists the
// most severe, newest first (the store's order).
func (h *handler) dashboardFindings(ctx context.Context, a *authed) views.DashboardFindings {
	fs, err := h.svc.ListFindings(ctx, a.actor, app.FindingFilter{OpenOnly: true, Limit: dashboardFindingScan})
	if err != nil {
		h.log.WarnContext(ctx, "dashboard: list findings", "err", err)
	}
	counts := map[app.Severity]int{}
	for _, f := range fs {
		counts[f.Severity]++
	}
	suffix := ""
	if len(fs) >= dashboardFindingScan {
		suffix = "+"
	}
	out := views.DashboardFindings{High: strconv.Itoa(counts[app.SeverityHigh]) + suffix,
		Medium: strconv.Itoa(counts[app.SeverityMedium]) + suffix, Low: strconv.Itoa(counts[app.SeverityLow]) + suffix,
		Total: strconv.Itoa(len(fs)) + suffix}
	names := map[int64]string{}
	for _, f := range fs[:min(len(fs), dashboardRows)] {
		name, ok := names[f.AssetID]
		if !ok {
			name = "asset " + strconv.FormatInt(f.AssetID, 10)
			if d, err := h.svc.GetAsset(ctx, a.actor, f.AssetID); err == nil {
				name = d.Asset.Name
			}
			names[f.AssetID] = name
		}
		out.Rows = append(out.Rows, views.FindingRow{ID: strconv.FormatInt(f.ID, 10), Rule: f.Rule, Severity: string(f.Severity),
			Message: f.Message, Open: true, AssetName: name, AssetURL: assetURL(f.AssetID)})
	}
	return out
}

// dashboardAgents counts the agents by status.
func (h *handler) dashboardAgents(ctx context.Context, a *authed) views.DashboardAgents {
	ags, err := h.svc.ListAgents(ctx, a.actor)
	if err != nil {
		h.log.WarnContext(ctx, "dashboard: list agents", "err", err)
	}
	now := h.svc.Now()
	counts := map[string]int{}
	for i := range ags {
		counts[ags[i].Status(now)]++
	}
	return views.DashboardAgents{Online: strconv.Itoa(counts[app.AgentOnline]), Offline: strconv.Itoa(counts[app.AgentOffline]),
		Revoked: strconv.Itoa(counts[app.AgentRevoked])}
}
