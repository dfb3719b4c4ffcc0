package web

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/views"
)

// changesPerPage is the list page size.
const changesPerPage = 25

// opRows is how many operation rows a new change form offers; editing
// offers one more than the request has.
const (
	opRows    = 5
	maxOpRows = 50
)

// changeURL is the detail page of a change request.
func changeURL(id int64) string { return "/changes/" + strconv.FormatInt(id, 10) }

// formatOpt formats a time, or "" when unset.
func formatOpt(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return formatTime(t)
}

// connectorSummaries maps connector ids to what every reader of change
// requests may know of them: name, type and approval policy.
func (h *handler) connectorSummaries(ctx context.Context, a *authed) map[int64]app.ConnectorSummary {
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
func (h *handler) listChanges(w http.ResponseWriter, r *http.Request, a *authed) {
	q := r.URL.Query()
	v := views.ChangesView{Status: q.Get("status"), Connector: q.Get("connector"),
		CanCreate: app.Can(a.actor.Role, app.ActWriteChanges)}
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
		v.Error = app.ErrMessage(err)
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

// ---- The create / edit form ----

// opRowInput is one operation row as entered.
type opRowInput struct {
	Type   string
	Values map[string]any // field name -> string, []string or bool
}

// findChoice returns the connector choice with id.
func findChoice(choices []app.ConnectorChoice, id int64) *app.ConnectorChoice {
	for i := range choices {
		if choices[i].ID == id {
			return &choices[i]
		}
	}
	return nil
}

func findSpec(specs []app.OperationSpec, typ string) *app.OperationSpec {
	for i := range specs {
		if specs[i].Type == typ {
			return &specs[i]
		}
	}
	return nil
}

// opFieldName is the form name of a parameter of row i.
func opFieldName(i int, field string) string { return "op" + strconv.Itoa(i) + "_" + field }

// opRowView renders row i: the type select and the chosen type's fields.
func opRowView(specs []app.OperationSpec, i int, in opRowInput) views.OpRowForm {
	row := views.OpRowForm{Index: strconv.Itoa(i), Number: strconv.Itoa(i + 1)}
	for _, s := range specs {
		row.Types = append(row.Types, views.Option{Value: s.Type, Label: s.Type, Selected: s.Type == in.Type})
	}
	spec := findSpec(specs, in.Type)
	if spec == nil {
		return row
	}
	for _, fs := range spec.Fields {
		name := opFieldName(i, fs.Name)
		fd := views.FormField{ID: "op" + strconv.Itoa(i) + "-" + fs.Name, Name: name, Label: fs.Label, Help: fs.Help,
			Required: fs.Required, TestID: "op" + strconv.Itoa(i) + "-" + fs.Name, Kind: views.KindText}
		if fd.Label == "" {
			fd.Label = fs.Name
		}
		switch fs.Kind {
		case app.FieldBool:
			fd.Kind = views.KindCheckbox
			b, _ := in.Values[fs.Name].(bool)
			fd.Checked = b
		case app.FieldList:
			fd.Kind = views.KindTextarea
			if fd.Help == "" {
				fd.Help = "One per line"
			} else {
				fd.Help += " (one per line)"
			}
			switch v := in.Values[fs.Name].(type) {
			case []string:
				fd.Value = strings.Join(v, "\n")
			case []any:
				parts := make([]string, 0, len(v))
				for _, x := range v {
					parts = append(parts, fmt.Sprint(x))
				}
				fd.Value = strings.Join(parts, "\n")
			case string:
				fd.Value = v
			}
		default:
			switch v := in.Values[fs.Name].(type) {
			case string:
				fd.Value = v
			case nil:
			default:
				b, _ := json.Marshal(v)
				fd.Value = string(b)
			}
		}
		row.Fields = append(row.Fields, fd)
	}
	return row
}

// readOpRows reads n operation rows from the form, keeping what was
// entered for the chosen types' fields.
func readOpRows(form url.Values, specs []app.OperationSpec, n int) []opRowInput {
	rows := make([]opRowInput, 0, n)
	for i := range n {
		in := opRowInput{Type: strings.TrimSpace(form.Get("op" + strconv.Itoa(i) + "_type")), Values: map[string]any{}}
		if spec := findSpec(specs, in.Type); spec != nil {
			for _, fs := range spec.Fields {
				name := opFieldName(i, fs.Name)
				switch fs.Kind {
				case app.FieldBool:
					in.Values[fs.Name] = form.Get(name) != ""
				case app.FieldList:
					var items []string
					for _, line := range strings.Split(form.Get(name), "\n") {
						if s := strings.TrimSpace(line); s != "" {
							items = append(items, s)
						}
					}
					in.Values[fs.Name] = items
				default:
					in.Values[fs.Name] = strings.TrimSpace(form.Get(name))
				}
			}
		}
		rows = append(rows, in)
	}
	return rows
}

// opInputs turns the rows with a type into the operations app decodes
// (strictly: unknown fields and wrong types are refused there). Empty
// values are left out so optional parameters take their defaults.
func opInputs(rows []opRowInput) ([]app.OpInput, error) {
	var out []app.OpInput
	for _, row := range rows {
		if row.Type == "" {
			continue
		}
		params := map[string]any{}
		for k, v := range row.Values {
			switch v := v.(type) {
			case string:
				if v != "" {
					params[k] = v
				}
			case []string:
				if len(v) > 0 {
					params[k] = v
				}
			case bool:
				if v {
					params[k] = true
				}
			}
		}
		b, err := json.Marshal(params)
		if err != nil {
			return nil, fmt.Errorf("encode operation parameters: %w", err)
		}
		out = append(out, app.OpInput{Type: row.Type, Params: b})
	}
	return out, nil
}

// rowsFromOps prefills the edit form from stored operations.
func rowsFromOps(ops []app.ChangeOperation) []opRowInput {
	rows := make([]opRowInput, 0, len(ops))
	for _, o := range ops {
		values := map[string]any{}
		_ = json.Unmarshal(o.Params, &values)
		rows = append(rows, opRowInput{Type: o.Type, Values: values})
	}
	return rows
}

// padRows makes at least want rows (and at most maxOpRows).
func padRows(rows []opRowInput, want int) []opRowInput {
	for len(rows) < want && len(rows) < maxOpRows {
		rows = append(rows, opRowInput{Values: map[string]any{}})
	}
	return rows
}

// changeFormView fills the form view for connector choice ch.
func changeFormView(ch *app.ConnectorChoice, rows []opRowInput) views.ChangeForm {
	f := views.ChangeForm{ConnectorID: strconv.FormatInt(ch.ID, 10), ConnectorName: ch.Name, ConnectorType: ch.Type}
	for _, s := range ch.Operations {
		help := views.OpTypeHelp{Type: s.Type, Description: s.Description}
		for _, fs := range s.Fields {
			name := fs.Name
			if fs.Required {
				name += " (required)"
			}
			help.Fields = append(help.Fields, name)
		}
		f.OpTypes = append(f.OpTypes, help)
	}
	for i, row := range rows {
		f.Rows = append(f.Rows, opRowView(ch.Operations, i, row))
	}
	return f
}

// newChangeForm is step one (choose a connector) or, with ?connector=, the
// form itself.
func (h *handler) newChangeForm(w http.ResponseWriter, r *http.Request, a *authed) {
	choices, err := h.svc.ConnectorChoices(r.Context(), a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	p := h.page(a, "New change request", views.NavChanges, "")
	sel := r.URL.Query().Get("connector")
	if sel == "" {
		f := views.ChangeForm{}
		for _, c := range choices {
			f.Choices = append(f.Choices, views.Option{Value: strconv.FormatInt(c.ID, 10), Label: c.Name + " (" + c.Type + ")"})
		}
		h.render(w, r, http.StatusOK, views.ChangeFormPage(p, f))
		return
	}
	id, _ := strconv.ParseInt(sel, 10, 64)
	ch := findChoice(choices, id)
	if ch == nil {
		h.renderStatus(w, r, a, http.StatusNotFound, "Not found", "There is no such connector.")
		return
	}
	// A finding's "Create change request" link pre-fills the form:
	// title, description and opN_type / opN_<field> like the form posts.
	q := r.URL.Query()
	rows := padRows(readOpRows(q, ch.Operations, prefilledRows(q)), opRows)
	f := changeFormView(ch, rows)
	f.Action, f.Title, f.Description = "/changes", q.Get("title"), q.Get("description")
	h.render(w, r, http.StatusOK, views.ChangeFormPage(p, f))
}

// prefilledRows is how many operation rows a pre-filled form needs: up to
// the last opN_type given.
func prefilledRows(q url.Values) int {
	n := 0
	for i := range maxOpRows {
		if q.Get("op"+strconv.Itoa(i)+"_type") != "" {
			n = i + 1
		}
	}
	return n
}

// opRowFragment answers the type select's htmx request with the row for
// the chosen type.
func (h *handler) opRowFragment(w http.ResponseWriter, r *http.Request, a *authed) {
	choices, err := h.svc.ConnectorChoices(r.Context(), a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	q := r.URL.Query()
	id, _ := strconv.ParseInt(q.Get("connector"), 10, 64)
	i, err := strconv.Atoi(q.Get("index"))
	ch := findChoice(choices, id)
	if ch == nil || err != nil || i < 0 || i >= maxOpRows {
		h.renderStatus(w, r, a, http.StatusNotFound, "Not found", "There is no such operation row.")
		return
	}
	row := opRowView(ch.Operations, i, opRowInput{Type: q.Get("op" + strconv.Itoa(i) + "_type")})
	h.render(w, r, http.StatusOK, views.OpRow(strconv.FormatInt(ch.ID, 10), row))
}

// formRowCount reads how many rows the form had.
func formRowCount(form url.Values) int {
	n, err := strconv.Atoi(form.Get("rows"))
	if err != nil || n < 1 {
		return opRows
	}
	return min(n, maxOpRows)
}

// createChange writes a draft; "refresh" only redraws the form with the
// chosen types' parameters (the no-JavaScript path).
func (h *handler) createChange(w http.ResponseWriter, r *http.Request, a *authed) {
	if !h.parseForm(w, r, a) {
		return
	}
	choices, err := h.svc.ConnectorChoices(r.Context(), a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	form := r.PostForm
	id, _ := strconv.ParseInt(form.Get("connector_id"), 10, 64)
	ch := findChoice(choices, id)
	if ch == nil {
		h.renderStatus(w, r, a, http.StatusBadRequest, "Bad request", "Choose an existing connector.")
		return
	}
	rows := readOpRows(form, ch.Operations, formRowCount(form))
	show := func(status int, msg string) {
		f := changeFormView(ch, rows)
		f.Action, f.Title, f.Description, f.Error = "/changes", form.Get("title"), form.Get("description"), msg
		h.render(w, r, status, views.ChangeFormPage(h.page(a, "New change request", views.NavChanges, ""), f))
	}
	if form.Get("refresh") != "" {
		show(http.StatusOK, "")
		return
	}
	ops, err := opInputs(rows)
	var c *app.ChangeRequest
	if err == nil {
		c, err = h.svc.CreateChange(r.Context(), a.actor, app.ChangeInput{Title: form.Get("title"),
			Description: form.Get("description"), ConnectorID: ch.ID, Operations: ops})
	}
	if err != nil {
		if code := app.ErrCode(err); code == app.EINVALID || code == app.ECONFLICT {
			show(httpx.Status(code), app.ErrMessage(err))
			return
		}
		h.renderError(w, r, a, err)
		return
	}
	h.addFlash(w, r, a, fmt.Sprintf("Draft %d created. Submit it for approval when it is ready.", c.ID))
	redirect(w, r, changeURL(c.ID))
}

// changeID reads the {id} path value; false means a 404 was sent.
func (h *handler) changeID(w http.ResponseWriter, r *http.Request, a *authed) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		h.renderStatus(w, r, a, http.StatusNotFound, "Not found", "There is no such change request.")
		return 0, false
	}
	return id, true
}

// editChangeForm shows the form filled with the request as it is.
func (h *handler) editChangeForm(w http.ResponseWriter, r *http.Request, a *authed) {
	id, ok := h.changeID(w, r, a)
	if !ok {
		return
	}
	c, ch, err := h.changeAndChoice(r.Context(), a, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	rows := rowsFromOps(c.Operations)
	f := changeFormView(ch, padRows(rows, max(opRows, len(rows)+1)))
	f.ID, f.Action, f.State = strconv.FormatInt(c.ID, 10), changeURL(c.ID)+"/edit", string(c.State)
	f.Title, f.Description = c.Title, c.Description
	h.render(w, r, http.StatusOK, views.ChangeFormPage(h.page(a, "Edit change request", views.NavChanges, ""), f))
}

// changeAndChoice loads a request and its connector's choice (which also
// proves the actor may write change requests).
func (h *handler) changeAndChoice(ctx context.Context, a *authed, id int64) (*app.ChangeRequest, *app.ConnectorChoice, error) {
	choices, err := h.svc.ConnectorChoices(ctx, a.actor)
	if err != nil {
		return nil, nil, err
	}
	c, err := h.svc.GetChange(ctx, a.actor, id)
	if err != nil {
		return nil, nil, err
	}
	ch := findChoice(choices, c.ConnectorID)
	if ch == nil {
		return nil, nil, app.Errorf(app.ENOTFOUND, "the connector of change request %d no longer exists", id)
	}
	return c, ch, nil
}

// editChange saves the edit form; app sends a submitted or approved
// request back to draft and voids its approvals.
func (h *handler) editChange(w http.ResponseWriter, r *http.Request, a *authed) {
	id, ok := h.changeID(w, r, a)
	if !ok || !h.parseForm(w, r, a) {
		return
	}
	c, ch, err := h.changeAndChoice(r.Context(), a, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	form := r.PostForm
	rows := readOpRows(form, ch.Operations, formRowCount(form))
	show := func(status int, msg string) {
		f := changeFormView(ch, rows)
		f.ID, f.Action, f.State = strconv.FormatInt(c.ID, 10), changeURL(c.ID)+"/edit", string(c.State)
		f.Title, f.Description, f.Error = form.Get("title"), form.Get("description"), msg
		h.render(w, r, status, views.ChangeFormPage(h.page(a, "Edit change request", views.NavChanges, ""), f))
	}
	if form.Get("refresh") != "" {
		show(http.StatusOK, "")
		return
	}
	ops, err := opInputs(rows)
	if err == nil {
		if ops == nil {
			ops = []app.OpInput{} // not nil: "no operations" is refused by app, not read as "unchanged"
		}
		title, desc := form.Get("title"), form.Get("description")
		_, err = h.svc.UpdateChange(r.Context(), a.actor, id, app.ChangePatch{Title: &title, Description: &desc, Operations: ops})
	}
	if err != nil {
		if code := app.ErrCode(err); code == app.EINVALID || code == app.ECONFLICT {
			show(httpx.Status(code), app.ErrMessage(err))
			return
		}
		h.renderError(w, r, a, err)
		return
	}
	h.addFlash(w, r, a, fmt.Sprintf("Change request %d saved as a draft.", id))
	redirect(w, r, changeURL(id))
}

// ---- Detail and actions ----

// changeDetailView builds the detail page for the current user.
func (h *handler) changeDetailView(ctx context.Context, a *authed, c *app.ChangeRequest) views.ChangeDetailView {
	sums := h.connectorSummaries(ctx, a)
	v := views.ChangeDetailView{ID: strconv.FormatInt(c.ID, 10), URL: changeURL(c.ID), Title: c.Title,
		Description: c.Description, State: string(c.State), Connector: connectorLabel(sums, c.ConnectorID),
		RequiredApprovals: requiredApprovals(sums, c.ConnectorID),
		CreatedBy:         c.CreatedByEmail, Revision: strconv.FormatInt(c.Revision, 10), Created: formatTime(c.CreatedAt),
		Submitted: formatOpt(c.SubmittedAt), Started: formatOpt(c.StartedAt), Finished: formatOpt(c.FinishedAt),
		ApprovalCount: strconv.Itoa(c.ValidApprovals()), Emergency: c.Emergency, Justification: c.EmergencyJustification,
		NeedsReview: c.NeedsReview(), ReviewedAt: formatOpt(c.ReviewedAt), ReviewComment: c.ReviewComment,
		Polling: c.State == app.StateExecuting}
	uid, _ := strconv.ParseInt(a.actor.ID, 10, 64)
	approvedByMe := false
	for _, ap := range c.Approvals {
		v.Approvals = append(v.Approvals, views.ApprovalView{Email: ap.UserEmail, Decision: string(ap.Decision),
			Comment: ap.Comment, Revision: strconv.FormatInt(ap.Revision, 10), Void: ap.Void, At: formatTime(ap.At)})
		if ap.UserID == uid && ap.Decision == app.DecisionApprove && !ap.Void && ap.Revision == c.Revision {
			approvedByMe = true
		}
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

	role, st := a.actor.Role, c.State
	write, exec := app.Can(role, app.ActWriteChanges), app.Can(role, app.ActExecuteChanges)
	approve := app.Can(role, app.ActApproveChanges)
	v.Actions = views.ChangeActions{
		Edit:      write && (st == app.StateDraft || st == app.StateSubmitted || st == app.StateApproved),
		Submit:    write && st == app.StateDraft,
		Approve:   approve && st == app.StateSubmitted && c.CreatedBy != uid && !approvedByMe,
		Cancel:    write && (st == app.StateDraft || st == app.StateSubmitted),
		Execute:   exec && st == app.StateApproved,
		Emergency: app.Can(role, app.ActEmergencyChange) && st == app.StateSubmitted,
		Resume:    exec && st == app.StateInterrupted,
		Review:    approve && c.NeedsReview() && c.EmergencyBy != uid,
	}
	return v
}

// changeDetail shows one change request.
func (h *handler) changeDetail(w http.ResponseWriter, r *http.Request, a *authed) {
	c, v, ok := h.loadChange(w, r, a)
	if !ok {
		return
	}
	h.render(w, r, http.StatusOK, views.ChangeDetailPage(h.page(a, c.Title, views.NavChanges, h.popFlash(w, r, a)), v))
}

// changeLive is the polled status and operations block. When the request
// has stopped executing, htmx is told to reload the page so the actions
// and approvals match the new state too.
func (h *handler) changeLive(w http.ResponseWriter, r *http.Request, a *authed) {
	c, v, ok := h.loadChange(w, r, a)
	if !ok {
		return
	}
	if !isHTMX(r) {
		h.render(w, r, http.StatusOK, views.ChangeDetailPage(h.page(a, c.Title, views.NavChanges, ""), v))
		return
	}
	if c.State != app.StateExecuting {
		w.Header().Set("HX-Refresh", "true")
	}
	h.render(w, r, http.StatusOK, views.ChangeLive(v), views.ChangeLiveFragment)
}

// loadChange reads the change request the path names and builds its view;
// false means an error page was sent.
func (h *handler) loadChange(w http.ResponseWriter, r *http.Request, a *authed) (*app.ChangeRequest, views.ChangeDetailView, bool) {
	id, ok := h.changeID(w, r, a)
	if !ok {
		return nil, views.ChangeDetailView{}, false
	}
	c, err := h.svc.GetChange(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return nil, views.ChangeDetailView{}, false
	}
	return c, h.changeDetailView(r.Context(), a, c), true
}

// changeActionFunc performs one action with the posted form.
type changeActionFunc func(ctx context.Context, actor app.Actor, id int64, form url.Values) (*app.ChangeRequest, error)

// changeAction wraps an action: on success a flash and back to the detail
// page; a refused action (illegal transition, self-approval, bad input)
// shows the detail page with the reason and the matching status.
func (h *handler) changeAction(done string, fn changeActionFunc) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, a *authed) {
		id, ok := h.changeID(w, r, a)
		if !ok || !h.parseForm(w, r, a) {
			return
		}
		if _, err := fn(r.Context(), a.actor, id, r.PostForm); err != nil {
			h.renderChangeError(w, r, a, id, err)
			return
		}
		h.addFlash(w, r, a, fmt.Sprintf(done, id))
		redirect(w, r, changeURL(id))
	}
}

// renderChangeError shows a refused action on the request's page.
func (h *handler) renderChangeError(w http.ResponseWriter, r *http.Request, a *authed, id int64, err error) {
	code := app.ErrCode(err)
	switch code {
	case app.EINVALID, app.ECONFLICT, app.EFORBIDDEN, app.EUNAVAILABLE:
	default:
		h.renderError(w, r, a, err)
		return
	}
	c, gerr := h.svc.GetChange(r.Context(), a.actor, id)
	if gerr != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := h.changeDetailView(r.Context(), a, c)
	v.Error = app.ErrMessage(err)
	h.render(w, r, httpx.Status(code), views.ChangeDetailPage(h.page(a, c.Title, views.NavChanges, ""), v))
}

// revealSecret shows an operation's one-time secret right in the response
// (never in a flash, which the session row would store) and app erases it.
func (h *handler) revealSecret(w http.ResponseWriter, r *http.Request, a *authed) {
	id, ok := h.changeID(w, r, a)
	if !ok {
		return
	}
	opID, err := strconv.ParseInt(r.PathValue("op"), 10, 64)
	if err != nil || opID <= 0 {
		h.renderStatus(w, r, a, http.StatusNotFound, "Not found", "There is no such operation.")
		return
	}
	secret, err := h.svc.RevealSecret(r.Context(), a.actor, id, opID)
	if err != nil {
		h.renderChangeError(w, r, a, id, err)
		return
	}
	defer clear(secret)
	c, err := h.svc.GetChange(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := h.changeDetailView(r.Context(), a, c)
	v.Revealed = string(secret)
	v.RevealedOpName = "operation " + strconv.FormatInt(opID, 10)
	for _, o := range c.Operations {
		if o.ID == opID {
			v.RevealedOpName = fmt.Sprintf("operation %d (%s)", o.Seq+1, o.Type)
		}
	}
	h.render(w, r, http.StatusOK, views.ChangeDetailPage(h.page(a, c.Title, views.NavChanges, ""), v))
}

// changeRoutes registers the change request pages.
func (h *handler) changeRoutes(mux *http.ServeMux) {
	mux.Handle("GET /changes", h.authed(h.listChanges))
	mux.Handle("GET /changes/new", h.authed(h.newChangeForm))
	mux.Handle("GET /changes/oprow", h.authed(h.opRowFragment))
	mux.Handle("POST /changes", h.authed(h.createChange))
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
			return s.ApproveChange(ctx, act, id, f.Get("comment"))
		})))
	mux.Handle("POST /changes/{id}/reject", h.authed(h.changeAction("You rejected change request %d.",
		func(ctx context.Context, act app.Actor, id int64, f url.Values) (*app.ChangeRequest, error) {
			return s.RejectChange(ctx, act, id, f.Get("comment"))
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
	mux.Handle("POST /changes/{id}/review", h.authed(h.changeAction("Review of emergency change %d recorded.",
		func(ctx context.Context, act app.Actor, id int64, f url.Values) (*app.ChangeRequest, error) {
			return s.ReviewEmergency(ctx, act, id, f.Get("comment"))
		})))
}
