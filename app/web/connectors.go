package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
	"github.com/nexplane/nexplane/views"
)

// connField is one form field of a connector type: a config key or a
// credentials key.
type connField struct {
	Name     string
	Label    string
	Kind     string // views.KindText, KindTextarea, KindCheckbox, KindPassword
	Help     string
	Required bool
}

// connType is how the console renders one connector type's form. Config
// fields become the config JSON (strings and booleans, empty ones left
// out); secret fields become the credentials JSON and are write-only.
type connType struct {
	Type    string
	Label   string
	Fields  []connField
	Secrets []connField
}

// connectorTypes are the types the console has a form for. A registered
// driver without an entry here still works: its form is a JSON config
// textarea and a JSON credentials textarea (genericType).
var connectorTypes = []connType{
	{
		Type: "ldap", Label: "LDAP directory",
		Fields: []connField{
			{Name: "url", Label: "URL", Kind: views.KindText, Required: true,
				Help: "ldap://host:389 (StartTLS is required) or ldaps://host:636"},
			{Name: "bind_dn", Label: "Bind DN", Kind: views.KindText, Required: true,
				Help: "The service account the connector binds as, e.g. cn=nexplane,ou=services,dc=example,dc=org"},
			{Name: "base_dn", Label: "Base DN", Kind: views.KindText, Required: true},
			{Name: "user_base", Label: "User base", Kind: views.KindText, Required: true, Help: "Where users live, under the base DN"},
			{Name: "group_base", Label: "Group base", Kind: views.KindText, Required: true, Help: "Where groups live, under the base DN"},
			{Name: "ca_pem", Label: "CA certificates (PEM)", Kind: views.KindTextarea,
				Help: "The CA that signed the server's certificate; empty means the system roots"},
			{Name: "tls_skip_verify", Label: "Skip TLS certificate verification (discouraged: lets a man in the middle collect the bind password)", Kind: views.KindCheckbox},
			{Name: "insecure_no_tls", Label: "No TLS at all — labs and tests only: the bind password crosses the network in clear text", Kind: views.KindCheckbox},
		},
		Secrets: []connField{
			{Name: "bind_password", Label: "Bind password", Kind: views.KindPassword},
		},
	},
	{
		// rotation_days and unused_days are numbers: set them through the
		// API; saving this form keeps them.
		Type: "aws", Label: "AWS account",
		Fields: []connField{
			{Name: "region", Label: "Region", Kind: views.KindText, Required: true, Help: "e.g. eu-central-1"},
			{Name: "endpoint_url", Label: "Endpoint URL", Kind: views.KindText,
				Help: "Optional: a VPC endpoint, an air-gapped partition or an emulator; empty means AWS's public endpoints"},
			{Name: "assume_role_arn", Label: "Role to assume", Kind: views.KindText,
				Help: "Optional: arn:aws:iam::123456789012:role/nexplane"},
			{Name: "sync_interval", Label: "Sync interval", Kind: views.KindText, Help: "Optional: e.g. 15m (the default), 1h"},
		},
		Secrets: []connField{
			{Name: "access_key_id", Label: "Access key ID", Kind: views.KindPassword},
			{Name: "secret_access_key", Label: "Secret access key", Kind: views.KindPassword},
		},
	},
}

// configField and credentialsField are the generic type's inputs.
const (
	configField      = "config_json"
	credentialsField = "credentials_json"
)

func genericType(typ string) connType {
	return connType{
		Type: typ, Label: typ,
		Fields: []connField{{Name: configField, Label: "Configuration (JSON object)", Kind: views.KindTextarea, Required: true}},
		Secrets: []connField{{Name: credentialsField, Label: "Credentials (JSON object)", Kind: views.KindPassword,
			Help: "Write-only; never shown again"}},
	}
}

// typeForm returns the form description of a connector type.
func typeForm(typ string) connType {
	for _, t := range connectorTypes {
		if t.Type == typ {
			return t
		}
	}
	return genericType(typ)
}

// creatableTypes are the connector types this server's registry has, in
// its order; a type without a console form gets the JSON textareas.
func (h *handler) creatableTypes() []connType {
	return typesFor(h.svc.Registry().DriverTypes())
}

// typesFor describes each registered type: its console form when there is
// one, else the generic JSON form.
func typesFor(registered []string) []connType {
	out := make([]connType, 0, len(registered))
	for _, typ := range registered {
		out = append(out, typeForm(typ))
	}
	return out
}

// buildConfig turns the form into the config JSON. base is the stored
// config when editing: keys the form does not know (set through the API)
// are kept.
func buildConfig(t connType, form map[string][]string, base json.RawMessage) (json.RawMessage, error) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if len(t.Fields) == 1 && t.Fields[0].Name == configField {
		raw := strings.TrimSpace(get(configField))
		if raw == "" {
			raw = "{}"
		}
		if !json.Valid([]byte(raw)) {
			return nil, app.Errorf(app.EINVALID, "configuration must be a JSON object")
		}
		return json.RawMessage(raw), nil
	}
	cfg := map[string]any{}
	if len(base) > 0 {
		if err := json.Unmarshal(base, &cfg); err != nil || cfg == nil {
			cfg = map[string]any{}
		}
	}
	for _, f := range t.Fields {
		delete(cfg, f.Name)
		switch f.Kind {
		case views.KindCheckbox:
			if get(f.Name) != "" {
				cfg[f.Name] = true
			}
		case views.KindTextarea:
			if v := strings.TrimSpace(strings.ReplaceAll(get(f.Name), "\r\n", "\n")); v != "" {
				cfg[f.Name] = v
			}
		default:
			if v := strings.TrimSpace(get(f.Name)); v != "" {
				cfg[f.Name] = v
			}
		}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("encode connector config: %w", err)
	}
	return b, nil
}

// buildCredentials turns the secret fields into the credentials JSON; nil
// when every secret field was left empty (keep the stored ones).
func buildCredentials(t connType, form map[string][]string) (json.RawMessage, error) {
	get := func(k string) string {
		if v := form[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	if len(t.Secrets) == 1 && t.Secrets[0].Name == credentialsField {
		raw := strings.TrimSpace(get(credentialsField))
		if raw == "" {
			return nil, nil
		}
		if !json.Valid([]byte(raw)) {
			return nil, app.Errorf(app.EINVALID, "credentials must be a JSON object")
		}
		return json.RawMessage(raw), nil
	}
	creds := map[string]string{}
	for _, f := range t.Secrets {
		if v := get(f.Name); v != "" {
			creds[f.Name] = v
		}
	}
	if len(creds) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(creds)
	if err != nil {
		return nil, fmt.Errorf("encode connector credentials: %w", err)
	}
	return b, nil
}

// formFieldsFor renders a type's config fields with values from values
// (the stored config or what was entered).
func formFieldsFor(t connType, values map[string]any) []views.FormField {
	out := make([]views.FormField, 0, len(t.Fields))
	for _, f := range t.Fields {
		fd := views.FormField{ID: "connector-" + strings.ReplaceAll(f.Name, "_", "-"), Name: f.Name, Label: f.Label,
			Kind: f.Kind, Help: f.Help, Required: f.Required, TestID: "connector-field-" + f.Name}
		switch v := values[f.Name].(type) {
		case bool:
			fd.Checked = v
		case string:
			fd.Value = v
			fd.Checked = v != ""
		case nil:
		default:
			b, _ := json.Marshal(v)
			fd.Value = string(b)
		}
		out = append(out, fd)
	}
	return out
}

// secretFields are the write-only inputs: never a value.
func secretFields(t connType) []views.FormField {
	out := make([]views.FormField, 0, len(t.Secrets))
	for _, f := range t.Secrets {
		out = append(out, views.FormField{ID: "connector-" + strings.ReplaceAll(f.Name, "_", "-"), Name: f.Name,
			Label: f.Label, Kind: views.KindPassword, Help: f.Help, TestID: "connector-field-" + f.Name})
	}
	return out
}

// enteredValues keeps what was entered in the config fields (never the
// secret ones) to show the form again after an error.
func enteredValues(t connType, form map[string][]string) map[string]any {
	out := map[string]any{}
	for _, f := range t.Fields {
		if v := form[f.Name]; len(v) > 0 {
			if f.Kind == views.KindCheckbox {
				out[f.Name] = v[0] != ""
			} else {
				out[f.Name] = v[0]
			}
		}
	}
	return out
}

func typeOptions(types []connType, selected string) []views.Option {
	out := make([]views.Option, 0, len(types))
	for _, t := range types {
		out = append(out, views.Option{Value: t.Type, Label: t.Label + " (" + t.Type + ")", Selected: t.Type == selected})
	}
	return out
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

// newConnectorForm is the create form for ?type= (default: the first type).
func (h *handler) newConnectorForm(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	if !h.requireConnectorAdmin(w, r, a) {
		return
	}
	types := h.creatableTypes()
	typ := r.URL.Query().Get("type")
	if typ == "" && len(types) > 0 {
		typ = types[0].Type
	}
	h.renderNewConnector(w, r, a, http.StatusOK, types, typ, "", "1", nil, "")
}

func (h *handler) renderNewConnector(w http.ResponseWriter, r *http.Request, a *sessionUser, status int, types []connType, typ, name, approvals string, values map[string]any, msg string) {
	t := typeForm(typ)
	f := views.ConnectorForm{Action: "/connectors", Name: name, Type: typ, Types: typeOptions(types, typ),
		Fields: formFieldsFor(t, values), Secrets: secretFields(t), RequiredApprovals: approvals, Error: msg}
	if len(types) == 0 {
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

// createConnector adds a connector. A refused input shows the form again
// with the message and the config entered, never the credentials.
func (h *handler) createConnector(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	if !h.parseForm(w, r, a) {
		return
	}
	form := r.PostForm
	typ := form.Get("type")
	t := typeForm(typ)
	name, approvals := form.Get("name"), form.Get("required_approvals")
	in := app.ConnectorInput{Name: strings.TrimSpace(name), Type: typ}
	var creds json.RawMessage
	cfg, err := buildConfig(t, form, nil)
	if err == nil {
		creds, err = buildCredentials(t, form)
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
		h.renderNewConnector(w, r, a, httpx.Status(code), h.creatableTypes(), typ, name, approvals,
			enteredValues(t, form), app.ErrMessage(err))
		return
	}
	h.addFlash(w, r, a, fmt.Sprintf("Connector %s created.", c.Name))
	redirect(w, r, "/connectors/"+strconv.FormatInt(c.ID, 10))
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
		t := typeForm(c.Type)
		values := map[string]any{}
		if len(t.Fields) == 1 && t.Fields[0].Name == configField {
			values[configField] = prettyJSON(c.Config)
		} else {
			_ = json.Unmarshal(c.Config, &values)
		}
		v.Form = views.ConnectorForm{ID: id, Action: "/connectors/" + id, Name: c.Name, Type: c.Type,
			Fields: formFieldsFor(t, values), Secrets: secretFields(t), RequiredApprovals: v.RequiredApprovals}
	}
	v.Form.CredentialsSet, v.Form.CredentialsAt = v.CredentialsSet, v.CredentialsAt
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
	h.render(w, r, http.StatusOK, views.ConnectorDetailPage(h.page(a, "Connector "+c.Name, views.NavConnectors, h.popFlash(w, r, a)),
		h.connectorDetailView(r.Context(), a, c, nil)))
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
	t := typeForm(cur.Type)
	name, approvals := strings.TrimSpace(form.Get("name")), form.Get("required_approvals")
	patch := app.ConnectorPatch{Name: &name}
	var creds json.RawMessage
	patch.Config, err = buildConfig(t, form, cur.Config)
	if err == nil {
		creds, err = buildCredentials(t, form)
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
		if code != app.EINVALID && code != app.ECONFLICT {
			h.renderError(w, r, a, err)
			return
		}
		sid := strconv.FormatInt(cur.ID, 10)
		f := views.ConnectorForm{ID: sid, Action: "/connectors/" + sid, Name: form.Get("name"), Type: cur.Type,
			Fields: formFieldsFor(t, enteredValues(t, form)), Secrets: secretFields(t), RequiredApprovals: approvals,
			Error: app.ErrMessage(err)}
		h.render(w, r, httpx.Status(code), views.ConnectorDetailPage(h.page(a, "Connector "+cur.Name, views.NavConnectors, ""),
			h.connectorDetailView(r.Context(), a, cur, &f)))
		return
	}
	h.addFlash(w, r, a, fmt.Sprintf("Connector %s saved.", c.Name))
	redirect(w, r, "/connectors/"+strconv.FormatInt(c.ID, 10))
}

// testConnector runs the connection test. htmx gets the result box only;
// without JavaScript the detail page shows it. A failed test is still a
// 200: the test ran, its box says how it went.
func (h *handler) testConnector(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "connector")
	if !ok {
		return
	}
	msg, err := h.svc.TestConnector(r.Context(), a.actor, id)
	res := views.ConnectorTestResult{Ran: true, OK: err == nil, Message: msg}
	if err != nil {
		switch app.ErrCode(err) {
		case app.EUNAVAILABLE, app.EINVALID:
			res.Message = app.ErrMessage(err)
		default:
			h.renderError(w, r, a, err)
			return
		}
	}
	if isHTMX(r) {
		h.render(w, r, http.StatusOK, views.ConnectorTestBox(res), views.ConnectorTestFragment)
		return
	}
	h.renderConnectorPage(w, r, a, id, func(v *views.ConnectorDetailView) { v.Test = res })
}

// renderConnectorPage shows a connector's page with the outcome of an
// action on it, which set fills in (the no-JavaScript path of test and sync).
func (h *handler) renderConnectorPage(w http.ResponseWriter, r *http.Request, a *sessionUser, id int64, set func(v *views.ConnectorDetailView)) {
	c, err := h.svc.GetConnector(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := h.connectorDetailView(r.Context(), a, c, nil)
	set(&v)
	h.render(w, r, http.StatusOK, views.ConnectorDetailPage(h.page(a, "Connector "+c.Name, views.NavConnectors, ""), v))
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
		if code := app.ErrCode(err); (code == app.ECONFLICT || code == app.EINVALID) && c != nil {
			v := h.connectorDetailView(r.Context(), a, c, nil)
			v.Error = app.ErrMessage(err)
			h.render(w, r, httpx.Status(code), views.ConnectorDetailPage(h.page(a, "Connector "+c.Name, views.NavConnectors, ""), v))
			return
		}
		h.renderError(w, r, a, err)
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
