package web

import (
	"net/http"
	"strconv"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/views"
)

// dashboard is the landing page: what waits for the user's approval, what
// ran recently, which emergency changes still need their review, and the
// state of the inventory. app reads it; this only maps it to the view.
func (h *handler) dashboard(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	ctx := r.Context()
	d, err := h.svc.Dashboard(ctx, a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	sums := h.connectorSummaries(ctx, a)
	var v views.DashboardView
	if g := d.GettingStarted; g != nil {
		v.Checklist = gettingStartedSteps(g)
	}
	if d.MayWork {
		v.Cards = append(v.Cards,
			views.DashboardCard{Key: "my-drafts", Title: "My drafts", Rows: changeRows(d.MyDrafts, sums),
				Empty: "You have no drafts.", MoreURL: "/changes?status=draft"},
			views.DashboardCard{Key: "my-waiting", Title: "My requests waiting for approval", Rows: changeRows(d.MyWaiting, sums),
				Empty: "None of your requests waits for approval.", MoreURL: "/changes?status=submitted"},
			views.DashboardCard{Key: "ready-to-execute", Title: "Approved, ready to execute", Rows: changeRows(d.ReadyToExecute, sums),
				Empty: "No approved request waits for you to execute it.", MoreURL: "/changes?status=approved"},
			views.DashboardCard{Key: "my-failed", Title: "My failed requests", Rows: changeRows(d.MyFailed, sums),
				Empty: "None of your requests failed.", MoreURL: "/changes?status=failed"})
	}
	if d.MayApprove {
		v.Cards = append(v.Cards, views.DashboardCard{Key: "approvals", Title: "Waiting for my approval",
			Rows: changeRows(d.AwaitingApproval, sums), Empty: "Nothing waits for your approval.", MoreURL: "/changes?status=submitted"})
	}
	v.Cards = append(v.Cards, views.DashboardCard{Key: "executed", Title: "Recently executed",
		Rows: changeRows(d.RecentlyExecuted, sums), Empty: "No change request has run yet."})
	v.Cards = append(v.Cards, views.DashboardCard{Key: "emergency-review", Title: "Emergency changes to review",
		Rows: changeRows(d.NeedsReview, sums), Empty: "No emergency change waits for review."})
	total := 0
	for _, n := range d.OpenFindings {
		total += n
	}
	v.Findings = views.DashboardFindings{High: strconv.Itoa(d.OpenFindings[app.SeverityHigh]),
		Medium: strconv.Itoa(d.OpenFindings[app.SeverityMedium]), Low: strconv.Itoa(d.OpenFindings[app.SeverityLow]),
		Total: strconv.Itoa(total)}
	for _, f := range d.MostSevere {
		v.Findings.Rows = append(v.Findings.Rows, views.FindingRow{ID: strconv.FormatInt(f.ID, 10), Rule: f.Rule,
			Severity: string(f.Severity), Message: f.Message, Open: true, AssetName: f.AssetName, AssetURL: assetURL(f.AssetID)})
	}
	v.Drift = views.DashboardDrift{Rows: driftRows(d.OpenDrift, sums), More: d.MoreDrift}
	v.CanAcknowledge = d.Actions.Allowed(app.ActionAcknowledge)
	v.Agents = views.DashboardAgents{Online: strconv.Itoa(d.Agents[app.AgentOnline]),
		Offline: strconv.Itoa(d.Agents[app.AgentOffline]), Revoked: strconv.Itoa(d.Agents[app.AgentRevoked])}
	h.render(w, r, http.StatusOK, views.Dashboard(h.page(a, "Dashboard", views.NavDashboard, h.popFlash(w, r, a)), v))
}

// gettingStartedSteps is the checklist of a new install; a step links to
// its page when app lets the reader take it.
func gettingStartedSteps(g *app.GettingStarted) []views.ChecklistStep {
	link := func(ok bool, url string) string {
		if ok {
			return url
		}
		return ""
	}
	return []views.ChecklistStep{
		{Key: "users", Label: "Create users", Help: "Invite the people who will request, approve and execute changes.",
			Done: g.UsersDone, URL: link(g.CanUsers, "/users")},
		{Key: "connector", Label: "Add a connector", Help: "Connect an LDAP directory, an AWS account or hosts through agents.",
			Done: g.ConnectorDone, URL: link(g.CanConnector, "/connectors/new")},
		{Key: "change", Label: "Make the first change request", Help: "Describe a change, submit it for approval, execute it.",
			Done: g.ChangeDone, URL: link(g.CanChange, "/changes/new")},
	}
}
