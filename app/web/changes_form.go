package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/views"
)

// maxOpRows is the most operation rows a form holds. A form starts with one
// row (or the request's own) and the user adds more on demand.
const maxOpRows = 50

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
func (h *handler) newChangeForm(w http.ResponseWriter, r *http.Request, a *sessionUser) {
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
	rows := padRows(readOpRows(q, ch.Operations, prefilledRows(q)), 1)
	f := changeFormView(ch, rows)
	f.Action, f.Title, f.Description = "/changes/new", q.Get("title"), q.Get("description")
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
// the chosen type, and the "Add operation" button's (add=1) with a new
// empty row at the form's next index plus that index moved on.
func (h *handler) opRowFragment(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	choices, err := h.svc.ConnectorChoices(r.Context(), a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	q := r.URL.Query()
	id, _ := strconv.ParseInt(q.Get("connector"), 10, 64)
	add := q.Get("add") != ""
	index := q.Get("index")
	if add {
		index = q.Get("rows")
	}
	i, err := strconv.Atoi(index)
	ch := findChoice(choices, id)
	if ch == nil || err != nil || i < 0 {
		h.renderStatus(w, r, a, http.StatusNotFound, "Not found", "There is no such operation row.")
		return
	}
	if i >= maxOpRows {
		h.renderStatus(w, r, a, http.StatusBadRequest, "Too many operations",
			fmt.Sprintf("A change request has at most %d operations.", maxOpRows))
		return
	}
	row := opRowView(ch.Operations, i, opRowInput{Type: q.Get("op" + strconv.Itoa(i) + "_type")})
	if add {
		row.Focus = true
		h.render(w, r, http.StatusOK, views.OpRowAdded(strconv.FormatInt(ch.ID, 10), row, strconv.Itoa(i+1)))
		return
	}
	h.render(w, r, http.StatusOK, views.OpRow(strconv.FormatInt(ch.ID, 10), row))
}

// formRowCount reads how many rows the form had (removed rows leave gaps,
// which read as rows without a type).
func formRowCount(form url.Values) int {
	n, err := strconv.Atoi(form.Get("rows"))
	if err != nil || n < 1 {
		return 1
	}
	return min(n, maxOpRows)
}

// redrawRows applies the form's row buttons, the no-JavaScript path:
// "remove" drops that row, "add" appends an empty one, "refresh" only
// shows the chosen types' parameters. It reports whether the form is to be
// drawn again rather than saved.
func redrawRows(form url.Values, rows []opRowInput) ([]opRowInput, bool) {
	remove, err := strconv.Atoi(form.Get("remove"))
	removing := form.Has("remove") && err == nil && remove >= 0 && remove < len(rows)
	add := form.Get("add") != ""
	if !removing && !add && form.Get("refresh") == "" {
		return rows, false
	}
	if removing {
		rows = append(rows[:remove:remove], rows[remove+1:]...)
	}
	rows = typedRows(rows)
	if add && len(rows) < maxOpRows && rows[len(rows)-1].Type != "" {
		rows = append(rows, opRowInput{Values: map[string]any{}})
	}
	return rows, true
}

// typedRows is what a form drawn again shows: the rows with a type, in
// order (removed rows leave gaps, empty rows are ignored anyway), or one
// empty row to start from.
func typedRows(rows []opRowInput) []opRowInput {
	kept := make([]opRowInput, 0, len(rows))
	for _, row := range rows {
		if row.Type != "" {
			kept = append(kept, row)
		}
	}
	if len(kept) == 0 {
		kept = append(kept, opRowInput{Values: map[string]any{}})
	}
	return kept
}

// createChange writes a draft; "refresh" only redraws the form with the
// chosen types' parameters (the no-JavaScript path).
func (h *handler) createChange(w http.ResponseWriter, r *http.Request, a *sessionUser) {
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
		f.Action, f.Title, f.Description, f.Error = "/changes/new", form.Get("title"), form.Get("description"), msg
		h.render(w, r, status, views.ChangeFormPage(h.page(a, "New change request", views.NavChanges, ""), f))
	}
	if redrawn, redraw := redrawRows(form, rows); redraw {
		rows = redrawn
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
			rows = typedRows(rows)
			show(httpx.Status(code), errMessage(err))
			return
		}
		h.renderError(w, r, a, err)
		return
	}
	h.addFlash(w, r, a, fmt.Sprintf("Draft %d created. Submit it for approval when it is ready.", c.ID))
	redirect(w, r, changeURL(c.ID))
}

// editChangeForm shows the form filled with the request as it is.
func (h *handler) editChangeForm(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "change request")
	if !ok {
		return
	}
	c, ch, err := h.changeAndChoice(r.Context(), a, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	rows := rowsFromOps(c.Operations)
	f := changeFormView(ch, padRows(rows, 1))
	f.ID, f.Action, f.State = strconv.FormatInt(c.ID, 10), changeURL(c.ID)+"/edit", string(c.State)
	f.VoidsApprovals = c.EditVoidsApprovals()
	f.Title, f.Description = c.Title, c.Description
	h.render(w, r, http.StatusOK, views.ChangeFormPage(h.page(a, "Edit change request", views.NavChanges, ""), f))
}

// changeAndChoice loads a request and its connector's choice (which also
// proves the actor may write change requests).
func (h *handler) changeAndChoice(ctx context.Context, a *sessionUser, id int64) (*app.ChangeRequest, *app.ConnectorChoice, error) {
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
func (h *handler) editChange(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "change request")
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
		f.VoidsApprovals = c.EditVoidsApprovals()
		f.Title, f.Description, f.Error = form.Get("title"), form.Get("description"), msg
		h.render(w, r, status, views.ChangeFormPage(h.page(a, "Edit change request", views.NavChanges, ""), f))
	}
	if redrawn, redraw := redrawRows(form, rows); redraw {
		rows = redrawn
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
			rows = typedRows(rows)
			show(httpx.Status(code), errMessage(err))
			return
		}
		h.renderError(w, r, a, err)
		return
	}
	h.addFlash(w, r, a, fmt.Sprintf("Change request %d saved as a draft.", id))
	redirect(w, r, changeURL(id))
}
