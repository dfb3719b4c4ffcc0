package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/views"
)

// assetsPerPage is the inventory page size.
const assetsPerPage = 50

// assetFilterParams are the query parameters the next-page link carries on.
var assetFilterParams = []string{"q", "connector", "kind", "finding", "include_gone", "limit"}

// choice is one value a select offers with its human label, and the
// connector type that reports it (empty when any server has it).
type choice struct{ Type, Value, Label string }

// assetKinds are the asset kinds the console knows how to name. Only the
// kinds of this server's registered connector types are offered; a kind
// not in the table still works when typed into the URL.
var assetKinds = []choice{
	{"aws", "aws.iam.user", "AWS IAM user"},
	{"aws", "aws.iam.access_key", "AWS IAM access key"},
	{"aws", "aws.iam.group", "AWS IAM group"},
	{"ldap", "ldap.user", "LDAP account"},
	{"ldap", "ldap.group", "LDAP group"},
	{"agents", "host", "Host"},
	{"agents", "host.user", "Host user"},
	{"agents", "host.ssh_key", "Host SSH key"},
}

// findingRules are the hygiene rules the console knows how to name, like
// assetKinds.
var findingRules = []choice{
	{"aws", "aws.access_key.too_old", "AWS key older than the rotation policy"},
	{"aws", "aws.access_key.unused", "AWS key unused or never used"},
	{"aws", "aws.access_key.inactive_not_deleted", "AWS key inactive but not deleted"},
	{"aws", "aws.user.over_privileged", "AWS user over-privileged"},
	{"ldap", "ldap.user.password_too_old", "LDAP password older than policy"},
	{"ldap", "ldap.user.locked_but_privileged", "LDAP account locked but privileged"},
	{"agents", "host.ssh_key.on_locked_user", "SSH key on a locked host user"},
	{"agents", "host.user.uid0_not_root", "Host user with uid 0 other than root"},
	{"agents", "host.ssh_key.too_old", "SSH key older than policy"},
}

// registeredOptions keeps the entries whose connector type this server
// has, marks selected and adds selected when the table lacks it.
func registeredOptions(table []choice, types []string, selected string) []views.Option {
	var out []views.Option
	found := false
	for _, e := range table {
		if !slices.Contains(types, e.Type) {
			continue
		}
		out = append(out, views.Option{Value: e.Value, Label: e.Label + " (" + e.Value + ")", Selected: e.Value == selected})
		found = found || e.Value == selected
	}
	if selected != "" && !found && selected != app.FindingAny {
		out = append(out, views.Option{Value: selected, Label: selected, Selected: true})
	}
	return out
}

func assetURL(id int64) string { return "/assets/" + strconv.FormatInt(id, 10) }

func driftURL(id int64) string { return "/drift/" + strconv.FormatInt(id, 10) }

// assetList shows one page of the inventory. An htmx request gets only
// the results fragment; a bad filter is a readable 400 either way.
func (h *handler) assetList(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	w.Header().Add("Vary", "HX-Request")
	ctx := r.Context()
	q := r.URL.Query()
	v := views.AssetsView{Filter: views.AssetFilterForm{Text: q.Get("q"), IncludeGone: q.Get("include_gone") != ""}}
	sums := h.connectorSummaries(ctx, a)
	conn := strings.TrimSpace(q.Get("connector"))
	for _, id := range sortedIDs(sums) {
		sid := strconv.FormatInt(id, 10)
		v.Connectors = append(v.Connectors, views.Option{Value: sid, Label: sums[id].Name, Selected: sid == conn})
	}
	types := h.svc.Registry().DriverTypes()
	kind, finding := strings.TrimSpace(q.Get("kind")), strings.TrimSpace(q.Get("finding"))
	v.Kinds = registeredOptions(assetKinds, types, kind)
	v.Findings = append([]views.Option{{Value: app.FindingAny, Label: "Any open finding", Selected: finding == app.FindingAny}},
		registeredOptions(findingRules, types, finding)...)

	status := http.StatusOK
	f := app.AssetFilter{Kind: kind, Text: q.Get("q"), Finding: finding, IncludeGone: v.Filter.IncludeGone, Limit: assetsPerPage}
	var err error
	if s := strings.TrimSpace(q.Get("limit")); s != "" {
		n, perr := strconv.Atoi(s)
		if perr != nil || n <= 0 {
			// 0 would silently mean "default" to app; say what is wrong.
			err = app.Errorf(app.EINVALID, "limit must be between 1 and 500")
		}
		f.Limit = n
	}
	if err == nil && conn != "" {
		n, perr := strconv.ParseInt(conn, 10, 64)
		if perr != nil || n <= 0 {
			err = app.Errorf(app.EINVALID, "connector must be a connector id")
		}
		f.ConnectorID = n
	}
	if err == nil {
		var page *app.AssetPage
		page, err = h.svc.ListAssets(ctx, a.actor, f, q.Get("cursor"))
		if err == nil {
			v.Rows = h.assetRows(ctx, a, page.Assets, sums)
			if page.NextCursor != "" {
				v.NextURL = nextPageURL("/assets", q, assetFilterParams, page.NextCursor)
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
	if isHTMX(r) {
		h.render(w, r, status, views.AssetResults(v), views.AssetsResultsFragment)
		return
	}
	h.render(w, r, status, views.AssetsPage(h.page(a, "Assets", views.NavAssets, ""), v))
}

// assetRows builds the table rows with each asset's open findings (one
// small indexed query per row of a bounded page).
func (h *handler) assetRows(ctx context.Context, a *sessionUser, as []app.Asset, sums map[int64]app.ConnectorSummary) []views.AssetRow {
	rows := make([]views.AssetRow, 0, len(as))
	for _, x := range as {
		row := views.AssetRow{ID: strconv.FormatInt(x.ID, 10), Name: x.Name, Kind: x.Kind,
			Connector: connectorLabel(sums, x.ConnectorID), LastSeen: formatTime(x.LastSeen), Gone: !x.GoneAt.IsZero(),
			DetailURL: assetURL(x.ID)}
		fs, err := h.svc.ListFindings(ctx, a.actor, app.FindingFilter{AssetID: x.ID, OpenOnly: true})
		if err != nil {
			h.log.WarnContext(ctx, "asset findings", "asset", x.ID, "err", err)
		}
		for _, f := range fs {
			row.Findings = append(row.Findings, views.FindingBadge{Severity: string(f.Severity), Rule: f.Rule})
		}
		rows = append(rows, row)
	}
	return rows
}

// assetDetail shows one asset.
func (h *handler) assetDetail(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "asset")
	if !ok {
		return
	}
	d, err := h.svc.GetAsset(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := h.assetDetailView(r.Context(), a, d)
	v.KeptReason = h.popKept(w, r, a, assetURL(id))["reason"]
	h.render(w, r, http.StatusOK, views.AssetDetailPage(h.page(a, d.Asset.Name, views.NavAssets, h.popFlash(w, r, a)), v))
}

func (h *handler) assetDetailView(ctx context.Context, a *sessionUser, d *app.AssetDetail) views.AssetDetailView {
	x := d.Asset
	sums := h.connectorSummaries(ctx, a)
	v := views.AssetDetailView{ID: strconv.FormatInt(x.ID, 10), URL: assetURL(x.ID), Name: x.Name, Kind: x.Kind,
		ExternalID: x.ExternalID, Connector: connectorLabel(sums, x.ConnectorID), FirstSeen: formatTime(x.FirstSeen),
		LastSeen: formatTime(x.LastSeen), Gone: formatOpt(x.GoneAt), Attributes: attributeRows(x.Attributes)}
	acts := h.svc.AssetActions(a.actor, d)
	fs := slices.Clone(d.Findings)
	// Open first; the store's order (most severe, then newest) within each.
	slices.SortStableFunc(fs, func(p, q app.Finding) int {
		po, qo := p.ResolvedAt.IsZero(), q.ResolvedAt.IsZero()
		switch {
		case po == qo:
			return 0
		case po:
			return -1
		default:
			return 1
		}
	})
	open := 0
	for _, f := range fs {
		row := views.FindingRow{ID: strconv.FormatInt(f.ID, 10), Rule: f.Rule, Severity: string(f.Severity), Message: f.Message,
			Open: f.ResolvedAt.IsZero(), FirstSeen: formatTime(f.FirstSeen), LastSeen: formatTime(f.LastSeen),
			Resolved: formatOpt(f.ResolvedAt), AssetName: x.Name, AssetURL: v.URL}
		if row.Open {
			open++
			if acts.Allowed(app.ActionCreateChangeRequest) && f.RemedyType != "" {
				row.RemedyURL = remedyURL(x.ConnectorID, f, x.Name)
			}
		}
		v.Findings = append(v.Findings, row)
	}
	v.OpenCount = strconv.Itoa(open)
	v.CanSync = acts.Allowed(app.ActionSync)
	switch {
	case acts.Allowed(app.ActionRevokeNow):
		v.Revoke = views.RevokeEmergency
	case acts.Allowed(app.ActionRevoke):
		v.Revoke = views.RevokeSubmit
	}
	return v
}

// remedyURL opens the change request form pre-filled with the operation
// that fixes a finding: /changes/new?connector=ID&op0_type=T&op0_field=...
func remedyURL(connectorID int64, f app.Finding, assetName string) string {
	q := url.Values{}
	q.Set("connector", strconv.FormatInt(connectorID, 10))
	q.Set("title", "Fix: "+f.Rule+" on "+assetName)
	q.Set("description", fmt.Sprintf("Finding %s (%s): %s", f.Rule, f.Severity, f.Message))
	q.Set("op0_type", f.RemedyType)
	var params map[string]any
	if json.Unmarshal(f.RemedyParams, &params) == nil {
		for k, val := range params {
			name := opFieldName(0, k)
			switch val := val.(type) {
			case string:
				q.Set(name, val)
			case bool:
				if val {
					q.Set(name, "true")
				}
			case []any:
				parts := make([]string, 0, len(val))
				for _, p := range val {
					parts = append(parts, fmt.Sprint(p))
				}
				q.Set(name, strings.Join(parts, "\n"))
			case nil:
			default:
				b, _ := json.Marshal(val)
				q.Set(name, string(b))
			}
		}
	}
	return "/changes/new?" + q.Encode()
}

// attributeRows formats an asset's attributes as sorted key/value rows:
// strings as they are, lists joined, objects as indented JSON.
func attributeRows(raw json.RawMessage) []views.AttributeRow {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		if len(raw) == 0 || string(raw) == "null" {
			return nil
		}
		return []views.AttributeRow{{Key: "(raw)", Value: prettyJSON(raw), Multiline: true}}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	rows := make([]views.AttributeRow, 0, len(keys))
	for _, k := range keys {
		val, multi := attrValue(m[k])
		rows = append(rows, views.AttributeRow{Key: k, Value: val, Multiline: multi})
	}
	return rows
}

// attrValue formats one attribute; multi says it needs a <pre>.
func attrValue(raw json.RawMessage) (string, bool) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw), false
	}
	switch v := v.(type) {
	case nil:
		return "—", false
	case string:
		if v == "" {
			return "—", false
		}
		return v, strings.Contains(v, "\n")
	case bool, float64:
		return string(raw), false
	case []any:
		if len(v) == 0 {
			return "(none)", false
		}
		parts := make([]string, 0, len(v))
		for _, x := range v {
			switch x := x.(type) {
			case string:
				parts = append(parts, x)
			case bool, float64:
				parts = append(parts, fmt.Sprint(x))
			default:
				return prettyJSON(raw), true
			}
		}
		return strings.Join(parts, ", "), false
	default:
		return prettyJSON(raw), true
	}
}

// revokeAsset is "revoke now": app creates the change request; an admin's
// runs at once as an emergency change, an operator's is submitted.
func (h *handler) revokeAsset(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "asset")
	if !ok || !h.parseForm(w, r, a) {
		return
	}
	c, err := h.svc.RevokeAsset(r.Context(), a.actor, id, r.PostForm.Get("reason"))
	if err != nil {
		h.refuse(w, r, a, assetURL(id), err, map[string]string{"reason": r.PostForm.Get("reason")})
		return
	}
	if c.Emergency {
		h.addFlash(w, r, a, fmt.Sprintf("Revoke now: emergency change %d is executing; it waits for a retrospective review.", c.ID))
	} else {
		h.addFlash(w, r, a, fmt.Sprintf("Change request %d to revoke it was submitted; it runs once approved.", c.ID))
	}
	redirect(w, r, changeURL(c.ID))
}

// syncAsset is "sync this asset": app re-reads it from its target; back on
// the asset page, a flash says what the sync found. A refusal or an
// unreachable target goes back there too, as an error flash.
func (h *handler) syncAsset(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "asset")
	if !ok || !h.parseForm(w, r, a) {
		return
	}
	res, err := h.svc.SyncAsset(r.Context(), a.actor, id)
	if err != nil {
		h.refuse(w, r, a, assetURL(id), err, nil)
		return
	}
	h.addFlash(w, r, a, syncFlash(res))
	redirect(w, r, assetURL(id))
}

// syncFlash says what "sync this asset" found.
func syncFlash(res *app.SyncResult) string {
	switch {
	case res.Disappeared > 0:
		return "Synced: the target no longer has this asset."
	case res.Appeared > 0:
		return "Synced: the asset is on the target again."
	case res.Changed > 0 && res.Drift > 0:
		return "Synced: the asset changed on the target outside Nexplane; the change is recorded as an out-of-band change."
	case res.Changed > 0:
		return "Synced: the asset's new state is shown."
	}
	return "Synced: the asset is unchanged on the target."
}

// ---- Drift ----

// driftRows builds the dashboard's drift rows.
func driftRows(ds []app.Drift, sums map[int64]app.ConnectorSummary) []views.DriftRow {
	rows := make([]views.DriftRow, 0, len(ds))
	for _, d := range ds {
		row := views.DriftRow{ID: strconv.FormatInt(d.ID, 10), AssetName: d.Name, Kind: d.Kind,
			Connector: connectorLabel(sums, d.ConnectorID), Change: string(d.Change), DetectedAt: formatTime(d.DetectedAt),
			DetailURL: driftURL(d.ID)}
		if d.AssetID > 0 {
			row.AssetURL = assetURL(d.AssetID)
		}
		rows = append(rows, row)
	}
	return rows
}

// driftDetail shows one drift record.
func (h *handler) driftDetail(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "out-of-band change")
	if !ok {
		return
	}
	d, err := h.svc.GetDrift(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := h.driftDetailView(r.Context(), a, d)
	v.KeptComment = h.popKept(w, r, a, driftURL(id))["comment"]
	h.render(w, r, http.StatusOK, views.DriftDetailPage(h.page(a, fmt.Sprintf("Out-of-band change %d", id), views.NavDashboard,
		h.popFlash(w, r, a)), v))
}

func (h *handler) driftDetailView(ctx context.Context, a *sessionUser, d *app.Drift) views.DriftDetailView {
	sums := h.connectorSummaries(ctx, a)
	v := views.DriftDetailView{ID: strconv.FormatInt(d.ID, 10), URL: driftURL(d.ID), AssetName: d.Name, Kind: d.Kind,
		ExternalID: d.ExternalID, Connector: connectorLabel(sums, d.ConnectorID), Change: string(d.Change),
		DetectedAt: formatTime(d.DetectedAt), Rows: diffRows(d.Before, d.After),
		Acknowledged: d.AcknowledgedBy != 0, AcknowledgedAt: formatOpt(d.AcknowledgedAt), AckComment: d.AckComment,
		CanAcknowledge: h.svc.DriftActions(a.actor, d).Allowed(app.ActionAcknowledge)}
	if d.AssetID > 0 {
		v.AssetURL = assetURL(d.AssetID)
	}
	if v.Acknowledged {
		v.AcknowledgedBy = h.acknowledger(ctx, a, d)
	}
	return v
}

// acknowledger names who acknowledged a drift record, from the audit log
// (which every role may read); a user id when the record is not found.
func (h *handler) acknowledger(ctx context.Context, a *sessionUser, d *app.Drift) string {
	fallback := "user " + strconv.FormatInt(d.AcknowledgedBy, 10)
	page, err := h.svc.ListAudit(ctx, a.actor, app.AuditQuery{Event: "asset.drift_acknowledged", ResourceType: "asset",
		ResourceID: strconv.FormatInt(d.AssetID, 10), Limit: 100})
	if err != nil {
		return fallback
	}
	for _, e := range page.Events {
		var p struct {
			DriftID int64 `json:"drift_id"`
		}
		if json.Unmarshal(e.Payload, &p) == nil && p.DriftID == d.ID && e.ActorEmail != "" {
			return e.ActorEmail
		}
	}
	return fallback
}

// diffRows puts the attributes before and after side by side, every key
// of either, sorted; "—" marks a key absent on one side.
func diffRows(before, after json.RawMessage) []views.DriftAttrRow {
	var b, af map[string]json.RawMessage
	_ = json.Unmarshal(before, &b)
	_ = json.Unmarshal(after, &af)
	keys := map[string]bool{}
	for k := range b {
		keys[k] = true
	}
	for k := range af {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	side := func(m map[string]json.RawMessage, k string) string {
		raw, ok := m[k]
		if !ok {
			return "—"
		}
		s, _ := attrValue(raw)
		return s
	}
	rows := make([]views.DriftAttrRow, 0, len(sorted))
	for _, k := range sorted {
		row := views.DriftAttrRow{Key: k, Before: side(b, k), After: side(af, k)}
		row.Changed = row.Before != row.After
		rows = append(rows, row)
	}
	return rows
}

// acknowledgeDrift closes a drift record; from the dashboard it goes back
// there, otherwise to the record's page, refused or not.
func (h *handler) acknowledgeDrift(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "out-of-band change")
	if !ok || !h.parseForm(w, r, a) {
		return
	}
	back := driftURL(id)
	if r.PostForm.Get("back") == "dashboard" {
		back = "/"
	}
	if _, err := h.svc.AcknowledgeDrift(r.Context(), a.actor, id, strings.TrimSpace(r.PostForm.Get("comment"))); err != nil {
		var kept map[string]string
		if back == driftURL(id) { // the dashboard's one-line row form has nothing to put it back in
			kept = map[string]string{"comment": r.PostForm.Get("comment")}
		}
		h.refuse(w, r, a, back, err, kept)
		return
	}
	h.addFlash(w, r, a, fmt.Sprintf("Out-of-band change %d acknowledged.", id))
	redirect(w, r, back)
}

// ---- Connector sync ----

// syncBox reads a connector's sync state for its page.
func (h *handler) syncBox(ctx context.Context, a *sessionUser, id int64) views.ConnectorSyncView {
	b := views.ConnectorSyncView{ConnectorID: strconv.FormatInt(id, 10)}
	st, err := h.svc.SyncState(ctx, a.actor, id)
	if err != nil {
		if app.ErrCode(err) != app.ENOTFOUND {
			h.log.WarnContext(ctx, "sync state", "connector", id, "err", err)
		}
		b.Never = true
		return b
	}
	b.LastStarted, b.LastFinished, b.LastError = formatOpt(st.LastStarted), formatOpt(st.LastFinished), st.LastError
	b.Assets, b.NextDue = strconv.Itoa(st.Assets), formatOpt(st.NextDue)
	return b
}

// syncConnector runs a sync now (admins). htmx gets the sync box only (a
// failed sync is still a 200: it ran, its box says how it went); without
// JavaScript the browser goes back to the connector's page.
func (h *handler) syncConnector(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "connector")
	if !ok || !h.requireConnectorAdmin(w, r, a) {
		return
	}
	res, err := h.svc.SyncConnector(r.Context(), a.actor, id)
	var failed string
	if err != nil {
		switch app.ErrCode(err) {
		case app.EUNAVAILABLE, app.EINVALID, app.ECONFLICT:
			failed = errMessage(err)
		default:
			h.renderError(w, r, a, err)
			return
		}
	}
	if !isHTMX(r) {
		// Without JavaScript: back to the connector's page (PRG), the
		// outcome in a flash.
		if failed != "" {
			h.addErrorFlash(w, r, a, "The sync failed: "+failed)
		} else {
			h.addFlash(w, r, a, fmt.Sprintf("Sync finished: %d seen, %d appeared, %d changed, %d disappeared, %d out-of-band.",
				res.Seen, res.Appeared, res.Changed, res.Disappeared, res.Drift))
		}
		redirect(w, r, fmt.Sprintf("/connectors/%d", id))
		return
	}
	box := h.syncBox(r.Context(), a, id)
	box.Ran, box.OK, box.Error = true, err == nil, failed
	if res != nil {
		box.Result = []views.SyncCount{
			{Key: "seen", Label: "seen", Value: strconv.Itoa(res.Seen)},
			{Key: "appeared", Label: "appeared", Value: strconv.Itoa(res.Appeared)},
			{Key: "changed", Label: "changed", Value: strconv.Itoa(res.Changed)},
			{Key: "disappeared", Label: "disappeared", Value: strconv.Itoa(res.Disappeared)},
			{Key: "drift", Label: "out-of-band", Value: strconv.Itoa(res.Drift)},
			{Key: "findings-open", Label: "open findings", Value: strconv.Itoa(res.FindingsOpen)},
			{Key: "findings-resolved", Label: "findings resolved", Value: strconv.Itoa(res.FindingsResolved)},
		}
	}
	h.render(w, r, http.StatusOK, views.ConnectorSyncBox(box), views.ConnectorSyncFragment)
}

// assetRoutes registers the inventory, drift and sync pages.
func (h *handler) assetRoutes(mux *http.ServeMux) {
	mux.Handle("GET /assets", h.authed(h.assetList))
	mux.Handle("GET /assets/{id}", h.authed(h.assetDetail))
	mux.Handle("POST /assets/{id}/revoke", h.authed(h.revokeAsset))
	mux.Handle("POST /assets/{id}/sync", h.authed(h.syncAsset))
	mux.Handle("GET /drift/{id}", h.authed(h.driftDetail))
	mux.Handle("POST /drift/{id}/acknowledge", h.authed(h.acknowledgeDrift))
	mux.Handle("POST /connectors/{id}/sync", h.authed(h.syncConnector))
}
