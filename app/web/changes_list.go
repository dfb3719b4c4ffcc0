package web

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/views"
)

// changesPerPage is the list page size.
const changesPerPage = 25

// changeURL is the detail page of a change request.
func changeURL(id int64) string { return "/changes/" + strconv.FormatInt(id, 10) }

// connectorSummaries maps connector ids to what every reader of change
// requests may know of them: name, type and approval policy.
func (h *handler) connectorSummaries(ctx context.Context, a *sessionUser) map[int64]app.ConnectorSummary {
	sums, err := h.svc.ConnectorSummaries(ctx, a.actor)
	if err != nil {
		h.log.WarnContext(ctx, "list connector summaries", "err", err)
		return nil
	}
	out := make(map[int64]app.ConnectorSummary, len(sums))
	for _, c := range sums {
		out[c.ID] = c
	}
	return out
}

// connectorLabel is a connector's name; a connector that is gone (or was
// added since the map was read) shows its id.
func connectorLabel(sums map[int64]app.ConnectorSummary, id int64) string {
	if c, ok := sums[id]; ok {
		return c.Name
	}
	return "connector " + strconv.FormatInt(id, 10)
}

// requiredApprovals is a connector's approval policy as a number, or ""
// when the connector is unknown.
func requiredApprovals(sums map[int64]app.ConnectorSummary, id int64) string {
	if c, ok := sums[id]; ok {
		return strconv.Itoa(c.RequiredApprovals)
	}
	return ""
}

func changeRows(cs []app.ChangeRequest, sums map[int64]app.ConnectorSummary) []views.ChangeRow {
	rows := make([]views.ChangeRow, 0, len(cs))
	for _, c := range cs {
		rows = append(rows, views.ChangeRow{ID: strconv.FormatInt(c.ID, 10), Title: c.Title, State: string(c.State),
			Connector: connectorLabel(sums, c.ConnectorID), RequiredApprovals: requiredApprovals(sums, c.ConnectorID),
			CreatedBy: c.CreatedByEmail, Created: formatTime(c.CreatedAt),
			Finished: formatOpt(c.FinishedAt), Emergency: c.Emergency, NeedsReview: c.NeedsReview(), DetailURL: changeURL(c.ID)})
	}
	return rows
}

// listChanges shows one page of change requests, newest first.
func (h *handler) listChanges(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	q := r.URL.Query()
	v := views.ChangesView{Status: q.Get("status"), Connector: q.Get("connector"),
		CanCreate: h.svc.ListActions(a.actor).Allowed(app.ActionCreateChangeRequest)}
	for _, st := range app.ChangeStates {
		v.States = append(v.States, views.Option{Value: string(st), Label: string(st), Selected: string(st) == v.Status})
	}
	sums := h.connectorSummaries(r.Context(), a)
	for _, id := range sortedIDs(sums) {
		sid := strconv.FormatInt(id, 10)
		v.Connectors = append(v.Connectors, views.Option{Value: sid, Label: sums[id].Name, Selected: sid == v.Connector})
	}
	status := http.StatusOK
	f := app.ChangeFilter{Limit: changesPerPage}
	var err error
	if v.Status != "" {
		f.State, err = app.ParseChangeState(v.Status)
	}
	if err == nil && strings.TrimSpace(v.Connector) != "" {
		n, perr := strconv.ParseInt(strings.TrimSpace(v.Connector), 10, 64)
		if perr != nil || n <= 0 {
			err = app.Errorf(app.EINVALID, "connector must be a connector id")
		}
		f.ConnectorID = n
	}
	if err == nil {
		var page *app.ChangePage
		page, err = h.svc.ListChanges(r.Context(), a.actor, f, q.Get("cursor"))
		if err == nil {
			v.Rows = changeRows(page.Changes, sums)
			if page.NextCursor != "" {
				v.NextURL = nextPageURL("/changes", q, []string{"status", "connector"}, page.NextCursor)
			}
		}
	}
	if err != nil {
		if app.ErrCode(err) != app.EINVALID {
			h.renderError(w, r, a, err)
			return
		}
		status = http.StatusBadRequest
		v.Error = errMessage(err)
	}
	h.render(w, r, status, views.ChangesPage(h.page(a, "Change requests", views.NavChanges, h.popFlash(w, r, a)), v))
}

// sortedIDs orders connector ids by name, then id.
func sortedIDs(m map[int64]app.ConnectorSummary) []int64 {
	out := make([]int64, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.SortFunc(out, func(x, y int64) int {
		if c := strings.Compare(m[x].Name, m[y].Name); c != 0 {
			return c
		}
		return cmp.Compare(x, y)
	})
	return out
}
