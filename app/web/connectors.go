package web

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/views"
)

// connectorSpec returns the config description of a connector type. An
// unknown type (only ever posted by hand) has no fields; app refuses it.
func (h *handler) connectorSpec(typ string) app.ConfigSpec {
	spec, err := h.svc.Registry().ConfigSpec(typ)
	if err != nil {
		return app.ConfigSpec{Label: typ}
	}
	return spec
}

// typeChoices is the create form's type choice: every registered type with
// its settings, showing its defaults, or entered for the chosen type when
// the form comes back with an error.
func (h *handler) typeChoices(chosen string, entered map[string]string) []views.ConnectorTypeChoice {
	types := h.svc.Registry().DriverTypes()
	out := make([]views.ConnectorTypeChoice, 0, len(types))
	for _, typ := range types {
		spec := h.connectorSpec(typ)
		values := defaultValues(spec)
		if typ == chosen && entered != nil {
			values = entered
		}
		f := connectorForm(typ, spec, values)
		out = append(out, views.ConnectorTypeChoice{Value: typ, Label: spec.Label, Description: spec.Description,
			Checked: typ == chosen, Fields: f.Fields, Secrets: f.Secrets})
	}
	return out
}

// settingName is the form name of a setting of a connector type. The type
// in it keeps the create form's types apart: several have a setting of the
// same name, and every type's inputs are in the one form.
// An empty typ (a form of one type only, such as an identity provider's)
// names inputs by the setting alone.
func settingName(typ, field string) string {
	if typ == "" {
		return field
	}
	return typ + "." + field
}

// inputKind is how the console renders a setting.
func inputKind(f app.ConfigField) string {
	switch {
	case f.Secret:
		return views.KindPassword
	case f.Type == app.ConfigBool:
		return views.KindCheckbox
	case f.Type == app.ConfigNumber:
		return views.KindNumber
	case f.Type == app.ConfigMultiline, f.Type == app.ConfigList, f.Type == app.ConfigMap:
		return views.KindTextarea
	}
	return views.KindText
}

// settingInputs renders settings of connector type typ with their values as
// form text (see formText). Secret inputs never get a value.
func settingInputs(typ string, fields []app.ConfigField, values map[string]string) []views.FormField {
	out := make([]views.FormField, 0, len(fields))
	for _, f := range fields {
		id := strings.ReplaceAll(strings.ReplaceAll(settingName(typ, f.Name), ".", "-"), "_", "-") // ldap.bind_password → ldap-bind-password
		fd := views.FormField{ID: "connector-" + id, Name: settingName(typ, f.Name),
			Label: f.Label, Kind: inputKind(f), Help: f.HelpText(), Required: f.Required && !f.Secret,
			TestID: "connector-field-" + strings.Replace(settingName(typ, f.Name), ".", "-", 1)}
		if !f.Secret {
			fd.Value = values[f.Name]
			fd.Checked = fd.Kind == views.KindCheckbox && fd.Value == "true"
		}
		out = append(out, fd)
	}
	return out
}

// connectorForm is the settings part of the form of a connector of type typ
// showing values (form text by field name).
func connectorForm(typ string, spec app.ConfigSpec, values map[string]string) views.ConnectorForm {
	return views.ConnectorForm{Fields: settingInputs(typ, spec.Config(), values), Secrets: settingInputs(typ, spec.Secrets(), nil)}
}

// formText is a setting's JSON value as a form shows it: lists one item a
// line, maps one key=value a line.
func formText(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case []any:
		lines := make([]string, 0, len(v))
		for _, x := range v {
			lines = append(lines, formText(x))
		}
		return strings.Join(lines, "\n")
	case map[string]any:
		lines := make([]string, 0, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			lines = append(lines, k+"="+formText(v[k]))
		}
		return strings.Join(lines, "\n")
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// storedValues is a config object as form text.
func storedValues(raw json.RawMessage) map[string]string {
	var cfg map[string]any
	_ = json.Unmarshal(raw, &cfg)
	out := make(map[string]string, len(cfg))
	for k, v := range cfg {
		out[k] = formText(v)
	}
	return out
}

// defaultValues are the spec's defaults as form text: a new connector's
// form shows what leaving a setting alone means.
func defaultValues(spec app.ConfigSpec) map[string]string {
	out := map[string]string{}
	for _, f := range spec.Config() {
		if f.Default == nil {
			continue
		}
		// Through JSON, so a default reads like a stored value.
		b, err := json.Marshal(f.Default)
		var v any
		if err == nil && json.Unmarshal(b, &v) == nil {
			out[f.Name] = formText(v)
		}
	}
	return out
}

// enteredValues keeps what was entered in the config fields of type typ
// (never the secret ones) to show the form again after an error.
func enteredValues(typ string, spec app.ConfigSpec, form url.Values) map[string]string {
	out := map[string]string{}
	for _, f := range spec.Config() {
		if v, ok := form[settingName(typ, f.Name)]; ok && len(v) > 0 {
			out[f.Name] = v[0]
			if f.Type == app.ConfigBool && v[0] != "" {
				out[f.Name] = "true"
			}
		}
	}
	return out
}

// settingsJSON turns the posted form into the config (or credentials)
// object of fields of type typ; other types' inputs are ignored. Empty
// inputs are left out, so the driver's default applies; a list or map input
// that was posted empty means "none". A number that does not parse goes as
// text, for app to refuse by name. nil means no field had a value.
func settingsJSON(typ string, fields []app.ConfigField, form url.Values) (json.RawMessage, error) {
	obj := map[string]any{}
	for _, f := range fields {
		vs, posted := form[settingName(typ, f.Name)]
		if !posted || len(vs) == 0 {
			continue
		}
		v := strings.TrimSpace(strings.ReplaceAll(vs[0], "\r\n", "\n"))
		switch {
		case f.Secret:
			if vs[0] != "" {
				obj[f.Name] = vs[0]
			}
		case f.Type == app.ConfigBool:
			if v != "" {
				obj[f.Name] = true
			}
		case f.Type == app.ConfigNumber:
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				obj[f.Name] = n
			} else if v != "" {
				obj[f.Name] = v
			}
		case f.Type == app.ConfigList:
			items := []string{}
			for _, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); line != "" {
					items = append(items, line)
				}
			}
			obj[f.Name] = items
		case f.Type == app.ConfigMap:
			m := map[string]string{}
			for i, line := range strings.Split(v, "\n") {
				if line = strings.TrimSpace(line); line == "" {
					continue
				}
				k, val, ok := strings.Cut(line, "=")
				if !ok {
					return nil, app.Errorf(app.EINVALID, "%s: line %d is not key=value", f.Label, i+1)
				}
				m[strings.TrimSpace(k)] = strings.TrimSpace(val)
			}
			obj[f.Name] = m
		default:
			if v != "" {
				obj[f.Name] = v
			}
		}
	}
	if len(obj) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode connector settings: %w", err)
	}
	return b, nil
}

// configJSON is the posted config object; {} when every input was empty.
func configJSON(typ string, spec app.ConfigSpec, form url.Values) (json.RawMessage, error) {
	cfg, err := settingsJSON(typ, spec.Config(), form)
	if cfg == nil && err == nil {
		cfg = json.RawMessage(`{}`)
	}
	return cfg, err
}

// requireConnectorAdmin refuses non-admins before any form is shown; app
// refuses them again on every use case.
func (h *handler) requireConnectorAdmin(w http.ResponseWriter, r *http.Request, a *sessionUser) bool {
	if err := h.svc.ListActions(a.actor).Err(app.ActionManageConnectors); err != nil {
		h.renderError(w, r, a, err)
		return false
	}
	return true
}

// listConnectors shows the connector table.
func (h *handler) listConnectors(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	cs, err := h.svc.ListConnectors(r.Context(), a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := views.ConnectorsView{}
	for _, c := range cs {
		id := strconv.FormatInt(c.ID, 10)
		row := views.ConnectorRow{ID: id, Name: c.Name, Type: c.Type, RequiredApprovals: strconv.Itoa(c.RequiredApprovals),
			CredentialsSet: c.SealedCredentials != nil, DetailURL: "/connectors/" + id}
		if !c.CredentialsUpdatedAt.IsZero() {
			row.CredentialsAt = formatTime(c.CredentialsUpdatedAt)
		}
		v.Rows = append(v.Rows, row)
	}
	h.render(w, r, http.StatusOK, views.ConnectorsPage(h.page(a, "Connectors", views.NavConnectors, h.popFlash(w, r, a)), v))
}

// newConnectorForm is the create form. ?type= picks a type (links from
// elsewhere); a server with one type picks it; otherwise the user does.
func (h *handler) newConnectorForm(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	if !h.requireConnectorAdmin(w, r, a) {
		return
	}
	typ := r.URL.Query().Get("type")
	if types := h.svc.Registry().DriverTypes(); len(types) == 1 {
		typ = types[0]
	}
	h.renderNewConnector(w, r, a, http.StatusOK, typ, "", "1", nil, "")
}

// renderNewConnector shows the create form with typ chosen and entered (nil:
// the defaults) in its settings.
func (h *handler) renderNewConnector(w http.ResponseWriter, r *http.Request, a *sessionUser, status int, typ, name, approvals string, entered map[string]string, msg string) {
	f := views.ConnectorForm{Action: newConnectorPath, Name: name, Type: typ, Types: h.typeChoices(typ, entered),
		RequiredApprovals: approvals, Error: msg}
	if len(f.Types) == 0 {
		f.Error = "This server has no connector types compiled in."
	}
	h.render(w, r, status, views.NewConnectorPage(h.page(a, "New connector", views.NavConnectors, ""), f))
}

// parseApprovals reads required_approvals; empty means the default.
func parseApprovals(s string) (*int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return nil, app.Errorf(app.EINVALID, "approvals required %q is not a whole number", s)
	}
	return &n, nil
}

// newConnectorPath is the create form's address; it posts to itself, so a
// refused form stays where it was.
const newConnectorPath = "/connectors/new"

// createConnector adds a connector and tests its connection at once; the
// connector's page shows how the test went. A refused input shows the form
// again with the message and the config entered, never the credentials.
// A failed test keeps the connector: its page says how to fix it.
func (h *handler) createConnector(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	if !h.parseForm(w, r, a) {
		return
	}
	form := r.PostForm
	typ := form.Get("type")
	spec := h.connectorSpec(typ)
	name, approvals := form.Get("name"), form.Get("required_approvals")
	in := app.ConnectorInput{Name: strings.TrimSpace(name), Type: typ}
	var creds json.RawMessage
	cfg, err := configJSON(typ, spec, form)
	if err == nil {
		creds, err = settingsJSON(typ, spec.Secrets(), form)
	}
	if err == nil {
		in.RequiredApprovals, err = parseApprovals(approvals)
	}
	var c *app.Connector
	if err == nil {
		in.Config, in.Credentials = cfg, creds
		c, err = h.svc.CreateConnector(r.Context(), a.actor, in)
		clear(creds)
	}
	if err != nil {
		code := app.ErrCode(err)
		if code != app.EINVALID && code != app.ECONFLICT {
			h.renderError(w, r, a, err)
			return
		}
		h.renderNewConnector(w, r, a, httpx.Status(code), typ, name, approvals, enteredValues(typ, spec, form), errMessage(err))
		return
	}
	res, err := h.connectionTest(r.Context(), a, c.ID)
	if err != nil {
		// The connector exists; only the report of its test is lost.
		h.log.ErrorContext(r.Context(), "test new connector", "connector", c.ID, "err", err)
		res = views.ConnectorTestResult{Ran: true, Message: "the test could not run: " + errMessage(err)}
	}
	h.showTestResult(w, r, a, c.ID, res, fmt.Sprintf("Connector %s created.", c.Name))
}

// connectorDetailView builds the detail page of c. form, when non-nil,
// replaces the edit form (to show an error with what was entered).
func (h *handler) connectorDetailView(ctx context.Context, a *sessionUser, c *app.Connector, form *views.ConnectorForm) views.ConnectorDetailView {
	id := strconv.FormatInt(c.ID, 10)
	v := views.ConnectorDetailView{ID: id, Name: c.Name, Type: c.Type, RequiredApprovals: strconv.Itoa(c.RequiredApprovals),
		CredentialsSet: c.SealedCredentials != nil, Created: formatTime(c.CreatedAt), Updated: formatTime(c.UpdatedAt),
		Config: configSummary(c.Config), Sync: h.syncBox(ctx, a, c.ID)}
	if !c.CredentialsUpdatedAt.IsZero() {
		v.CredentialsAt = formatTime(c.CredentialsUpdatedAt)
	}
	if form != nil {
		v.Form = *form
	} else {
		v.Form = connectorForm(c.Type, h.connectorSpec(c.Type), storedValues(c.Config))
		v.Form.ID, v.Form.Action, v.Form.Name, v.Form.Type, v.Form.RequiredApprovals = id, "/connectors/"+id, c.Name, c.Type, v.RequiredApprovals
	}
	v.Form.CredentialsSet, v.Form.CredentialsAt = v.CredentialsSet, v.CredentialsAt
	acts := h.svc.ConnectorActions(a.actor, c)
	v.Actions = views.ConnectorActions{Edit: acts.Allowed(app.ActionEdit), Test: acts.Allowed(app.ActionTest),
		Sync: acts.Allowed(app.ActionSync), Delete: acts.Allowed(app.ActionDelete)}
	v.Test.ConnectorID, v.Test.CanTest = id, v.Actions.Test
	return v
}

// connectorDetail shows one connector with its edit form.
func (h *handler) connectorDetail(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "connector")
	if !ok {
		return
	}
	c, err := h.svc.GetConnector(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := h.connectorDetailView(r.Context(), a, c, nil)
	if t, ok := h.popTestResult(w, r, a, c.ID); ok {
		t.ConnectorID, t.CanTest = v.Test.ConnectorID, v.Test.CanTest
		v.Test = t
	}
	h.render(w, r, http.StatusOK, views.ConnectorDetailPage(h.page(a, "Connector "+c.Name, views.NavConnectors, h.popFlash(w, r, a)), v))
}

// updateConnector saves the edit form. Empty secret fields keep the stored
// credentials.
func (h *handler) updateConnector(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "connector")
	if !ok || !h.parseForm(w, r, a) {
		return
	}
	cur, err := h.svc.GetConnector(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	form := r.PostForm
	spec := h.connectorSpec(cur.Type)
	name, approvals := strings.TrimSpace(form.Get("name")), form.Get("required_approvals")
	patch := app.ConnectorPatch{Name: &name}
	var creds json.RawMessage
	patch.Config, err = configJSON(cur.Type, spec, form)
	if err == nil {
		creds, err = settingsJSON(cur.Type, spec.Secrets(), form)
		patch.Credentials = creds
	}
	if err == nil {
		patch.RequiredApprovals, err = parseApprovals(approvals)
	}
	var c *app.Connector
	if err == nil {
		c, err = h.svc.UpdateConnector(r.Context(), a.actor, id, patch)
		clear(creds)
	}
	if err != nil {
		code := app.ErrCode(err)
		if code != app.EINVALID && code != app.ECONFLICT && code != app.ECREDENTIALS {
			h.renderError(w, r, a, err)
			return
		}
		sid := strconv.FormatInt(cur.ID, 10)
		f := connectorForm(cur.Type, spec, enteredValues(cur.Type, spec, form))
		f.ID, f.Action, f.Name, f.Type, f.RequiredApprovals, f.Error = sid, "/connectors/"+sid, form.Get("name"), cur.Type, approvals, errMessage(err)
		h.render(w, r, httpx.Status(code), views.ConnectorDetailPage(h.page(a, "Connector "+cur.Name, views.NavConnectors, ""),
			h.connectorDetailView(r.Context(), a, cur, &f)))
		return
	}
	h.addFlash(w, r, a, fmt.Sprintf("Connector %s saved.", c.Name))
	redirect(w, r, "/connectors/"+strconv.FormatInt(c.ID, 10))
}

// testConnector runs the connection test. htmx gets the result box only;
// without JavaScript the browser is sent to the connector's page, which
// shows the result once.
func (h *handler) testConnector(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "connector")
	if !ok {
		return
	}
	res, err := h.connectionTest(r.Context(), a, id)
	if err != nil {
		if isHTMX(r) {
			h.renderError(w, r, a, err)
			return
		}
		h.refuse(w, r, a, "/connectors/"+strconv.FormatInt(id, 10), err, nil)
		return
	}
	if isHTMX(r) {
		// app just let this user test it, so it offers testing again.
		res.ConnectorID, res.CanTest = strconv.FormatInt(id, 10), true
		h.render(w, r, http.StatusOK, views.ConnectorTestBox(res), views.ConnectorTestFragment)
		return
	}
	h.showTestResult(w, r, a, id, res, "")
}

// connectionTest runs connector id's connection test. A test that ran and
// failed is a result (its message is app's readable reason), not an error.
func (h *handler) connectionTest(ctx context.Context, a *sessionUser, id int64) (views.ConnectorTestResult, error) {
	msg, err := h.svc.TestConnector(ctx, a.actor, id)
	if err == nil {
		return views.ConnectorTestResult{Ran: true, OK: true, Message: msg}, nil
	}
	switch app.ErrCode(err) {
	case app.EUNAVAILABLE, app.EINVALID:
		return views.ConnectorTestResult{Ran: true, Message: errMessage(err)}, nil
	}
	return views.ConnectorTestResult{}, err
}

// testResultKey holds a connection test's result for the connector's page
// to show once after the redirect (post/redirect/get).
const testResultKey = "connector-test"

// testFlash is a test result on its way to connector ID's page.
type testFlash struct {
	ID      int64  `json:"id"`
	OK      bool   `json:"ok"`
	Message string `json:"message"`
}

// showTestResult keeps res (and flash, when not empty) for connector id's
// page and sends the browser there.
func (h *handler) showTestResult(w http.ResponseWriter, r *http.Request, a *sessionUser, id int64, res views.ConnectorTestResult, flash string) {
	b, err := json.Marshal(testFlash{ID: id, OK: res.OK, Message: res.Message})
	if err == nil {
		a.sess.AddFlash(string(b), testResultKey)
		if flash != "" {
			a.sess.AddFlash(flash, flashKey)
		}
		err = a.sess.Save(r, w)
	}
	if err != nil {
		// What was asked for happened; only its report is lost, and
		// testing again is a click.
		h.log.WarnContext(r.Context(), "save connector test result", "err", err)
	}
	redirect(w, r, "/connectors/"+strconv.FormatInt(id, 10))
}

// popTestResult returns and removes the pending test result of connector
// id. One of another connector (a page left before it showed) is dropped.
func (h *handler) popTestResult(w http.ResponseWriter, r *http.Request, a *sessionUser, id int64) (views.ConnectorTestResult, bool) {
	fl := a.sess.Flashes(testResultKey)
	if len(fl) == 0 {
		return views.ConnectorTestResult{}, false
	}
	if err := a.sess.Save(r, w); err != nil {
		h.log.WarnContext(r.Context(), "clear connector test result", "err", err)
	}
	var res views.ConnectorTestResult
	found := false
	for _, f := range fl {
		s, _ := f.(string)
		var t testFlash
		if json.Unmarshal([]byte(s), &t) == nil && t.ID == id {
			res, found = views.ConnectorTestResult{Ran: true, OK: t.OK, Message: t.Message}, true
		}
	}
	return res, found
}

// confirmDeleteConnector is the confirmation step of a delete: a page with
// the form that really deletes, so no click deletes without JavaScript.
func (h *handler) confirmDeleteConnector(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "connector")
	if !ok {
		return
	}
	c, err := h.svc.GetConnector(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := views.ConnectorDeleteView{ID: strconv.FormatInt(c.ID, 10), Name: c.Name, Type: c.Type}
	h.render(w, r, http.StatusOK, views.ConnectorDeletePage(h.page(a, "Delete connector "+c.Name, views.NavConnectors, ""), v))
}

// deleteConfirmed is the field value the confirmation page posts.
const deleteConfirmed = "yes"

// deleteConnector removes a connector once confirmed; without the confirm
// field it sends the browser to the confirmation step. One still in use is
// a readable 409 on its page.
func (h *handler) deleteConnector(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "connector")
	if !ok || !h.requireConnectorAdmin(w, r, a) || !h.parseForm(w, r, a) {
		return
	}
	if r.PostForm.Get("confirm") != deleteConfirmed {
		redirect(w, r, "/connectors/"+strconv.FormatInt(id, 10)+"/delete")
		return
	}
	c, err := h.svc.GetConnector(r.Context(), a.actor, id)
	if err == nil {
		err = h.svc.DeleteConnector(r.Context(), a.actor, id)
	}
	if err != nil {
		h.refuse(w, r, a, "/connectors/"+strconv.FormatInt(id, 10), err, nil)
		return
	}
	h.addFlash(w, r, a, fmt.Sprintf("Connector %s deleted.", c.Name))
	redirect(w, r, "/connectors")
}

// configSummary pretty-prints a connector's config for reading; multi-line
// values (PEM bundles) are summarised: the edit form shows them in full.
func configSummary(raw json.RawMessage) string {
	var cfg map[string]any
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return prettyJSON(raw)
	}
	for k, v := range cfg {
		if s, ok := v.(string); ok && strings.Contains(strings.TrimSpace(s), "\n") {
			cfg[k] = fmt.Sprintf("(%d lines; shown in the edit form)", strings.Count(strings.TrimSpace(s), "\n")+1)
		}
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return prettyJSON(raw)
	}
	return string(b)
}
