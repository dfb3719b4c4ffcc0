package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/views"
)

// datetimeLocal is what an <input type="datetime-local"> submits; the
// console treats it as UTC (the labels say so).
const datetimeLocal = "2006-01-02T15:04"

// auditTimeFormats are accepted for from/to: RFC 3339 like the API, or the
// browser's datetime-local value (with or without seconds), read as UTC.
var auditTimeFormats = []string{time.RFC3339Nano, datetimeLocal, "2006-01-02T15:04:05"}

// auditShowTime is how the filter shows a bound it understood: ISO 8601 in
// UTC, the form it takes back.
const auditShowTime = "2006-01-02T15:04:05Z"

// auditFilterParams are the query parameters the next-page link carries on.
var auditFilterParams = []string{"from", "to", "resource_type", "resource_id", "actor", "event", "limit"}

// auditQuickRanges are the filter's one-click time ranges, ending now.
var auditQuickRanges = []struct {
	key, label string
	d          time.Duration
}{
	{"hour", "Last hour", time.Hour},
	{"day", "Last day", 24 * time.Hour},
	{"week", "Last week", 7 * 24 * time.Hour},
}

// parseAuditTime reads a filter bound; empty means unbounded.
func parseAuditTime(name, v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, nil
	}
	for _, f := range auditTimeFormats {
		if t, err := time.ParseInLocation(f, v, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, app.Errorf(app.EINVALID,
		"%s %q is not a time: use ISO 8601 in UTC, such as 2025-01-31T14:00:00Z", name, v)
}

// parseAuditQuery turns the query string into an app.AuditQuery, the same
// way the API does; app validates ranges and the cursor.
func parseAuditQuery(q url.Values) (app.AuditQuery, error) {
	var aq app.AuditQuery
	var err error
	if aq.From, err = parseAuditTime("from", q.Get("from")); err != nil {
		return aq, err
	}
	if aq.To, err = parseAuditTime("to", q.Get("to")); err != nil {
		return aq, err
	}
	if s := strings.TrimSpace(q.Get("limit")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return aq, app.Errorf(app.EINVALID, "limit %q is not a whole number", s)
		}
		if n <= 0 {
			// 0 would silently mean "default" to app; say what is wrong.
			return aq, app.Errorf(app.EINVALID, "limit must be between 1 and %d", app.MaxAuditLimit)
		}
		aq.Limit = n
	}
	aq.ResourceType = strings.TrimSpace(q.Get("resource_type"))
	aq.ResourceID = strings.TrimSpace(q.Get("resource_id"))
	aq.Actor = strings.TrimSpace(q.Get("actor"))
	aq.Event = strings.TrimSpace(q.Get("event"))
	aq.Cursor = q.Get("cursor")
	return aq, nil
}

// checkAuditChoices refuses an event or resource type the filter does not
// offer: a typo in a bookmarked URL says so instead of showing nothing.
func checkAuditChoices(aq app.AuditQuery, ch app.AuditFilterChoices) error {
	if aq.Event != "" && !slices.Contains(ch.Events, aq.Event) {
		return app.Errorf(app.EINVALID, "%q is not an audit event: pick one from the list", aq.Event)
	}
	if aq.ResourceType != "" && !slices.Contains(ch.ResourceTypes, aq.ResourceType) {
		return app.Errorf(app.EINVALID, "%q is not a resource type you can filter on: pick one from the list", aq.ResourceType)
	}
	return nil
}

// showAuditTime is a bound as the filter shows it: ISO 8601 UTC when it
// parses, else as entered (the error says what is wrong with it).
func showAuditTime(v string) string {
	t, err := parseAuditTime("", v)
	if err != nil || t.IsZero() {
		return v
	}
	return t.Format(auditShowTime)
}

// auditList shows one page of the audit log. An htmx request gets only the
// results fragment; a bad filter is a readable 400 either way.
func (h *handler) auditList(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	w.Header().Add("Vary", "HX-Request")
	q := r.URL.Query()
	choices, err := h.svc.AuditFilterChoices(a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := views.AuditView{Filter: views.AuditFilterForm{
		From: showAuditTime(q.Get("from")), To: showAuditTime(q.Get("to")), ResourceType: q.Get("resource_type"),
		ResourceID: q.Get("resource_id"), Actor: q.Get("actor"), Event: q.Get("event"), Limit: q.Get("limit"),
		Events: choices.Events, ResourceTypes: choices.ResourceTypes,
	}}
	now := h.now().UTC()
	for _, qr := range auditQuickRanges {
		p := keepParams(q, "resource_type", "resource_id", "actor", "event", "limit")
		from := now.Add(-qr.d).Truncate(time.Second).Format(auditShowTime)
		p.Set("from", from)
		v.Filter.QuickRanges = append(v.Filter.QuickRanges, views.AuditQuickRange{Key: qr.key, Label: qr.label,
			URL: "/audit?" + p.Encode(), Active: q.Get("from") != "" && q.Get("to") == "" && showAuditTime(q.Get("from")) == from})
	}
	status := http.StatusOK
	aq, err := parseAuditQuery(q)
	if err == nil {
		err = checkAuditChoices(aq, choices)
	}
	if err == nil {
		var page *app.AuditPage
		page, err = h.svc.ListAudit(r.Context(), a.actor, aq)
		if err == nil {
			v.Rows = auditRows(page.Events)
			if page.NextCursor != "" {
				v.NextURL = nextPageURL("/audit", q, auditFilterParams, page.NextCursor)
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
		h.render(w, r, status, views.AuditResults(v), views.AuditResultsFragment)
		return
	}
	v.SIEM = h.siemPanel(r, a)
	if h.svc.ListActions(a.actor).Allowed(app.ActionExportAudit) {
		v.ExportURL = "/audit/export"
		if p := keepParams(q, "from", "to"); len(p) > 0 {
			v.ExportURL += "?" + p.Encode()
		}
	}
	h.render(w, r, status, views.AuditPage(h.page(a, "Audit log", views.NavAudit, ""), v))
}

// siemPanel is the forwarding status for those app lets see it (admins);
// nil when forwarding is off or the reader may not see it.
func (h *handler) siemPanel(r *http.Request, a *sessionUser) *views.SIEMPanel {
	if h.syslog == "" {
		return nil
	}
	st, err := h.svc.OutboxStatusFor(r.Context(), a.actor, app.OutboxSyslog)
	if err != nil {
		if app.ErrCode(err) != app.EFORBIDDEN {
			h.log.WarnContext(r.Context(), "console: SIEM status", "err", err)
		}
		return nil
	}
	p := &views.SIEMPanel{Target: h.syslog, Delivered: strconv.FormatInt(st.LastSeq, 10),
		Backlog: strconv.FormatInt(st.Backlog, 10), LastError: st.LastError}
	if !st.UpdatedAt.IsZero() {
		p.UpdatedAt = formatTime(st.UpdatedAt)
	}
	return p
}

func auditRows(evs []app.AuditEvent) []views.AuditRow {
	rows := make([]views.AuditRow, 0, len(evs))
	for _, e := range evs {
		id := strconv.FormatInt(e.ID, 10)
		rows = append(rows, views.AuditRow{
			ID: id, Time: e.At.UTC().Format(auditShowTime), Actor: actorLabel(e), Event: e.Event,
			Resource: strings.TrimSpace(e.ResourceType + " " + e.ResourceID), ResourceURL: auditResourceURL(e),
			DetailURL: "/audit/" + id,
		})
	}
	return rows
}

// auditResourceURL is the console page of the record's resource, or ""
// when it has none (a session that ended, a deleted connector still links:
// its page says it is gone).
func auditResourceURL(e app.AuditEvent) string {
	id := url.PathEscape(e.ResourceID)
	// payloadID reads a numeric id the payload names (the owner of a token,
	// the user of a session).
	payloadID := func(key string) string {
		var m map[string]any
		if json.Unmarshal(e.Payload, &m) != nil {
			return ""
		}
		if n, ok := m[key].(float64); ok && n > 0 {
			return strconv.FormatInt(int64(n), 10)
		}
		return ""
	}
	switch e.ResourceType {
	case "user":
		if e.ResourceID != "" {
			return "/users/" + id
		}
	case "change_request":
		if e.ResourceID != "" {
			return "/changes/" + id
		}
		return "/changes"
	case "connector":
		return "/connectors/" + id
	case "asset":
		return "/assets/" + id
	case "agent":
		return "/agents/" + id
	case "enrollment_token":
		return "/agents"
	case "settings":
		return "/settings"
	case "identity_provider":
		return idpPath + "/" + id
	case "audit":
		return "/audit"
	case "api_token":
		if owner := payloadID("owner_id"); owner != "" {
			return "/users/" + owner + "/tokens"
		}
	case "session":
		if user := payloadID("user_id"); user != "" {
			return "/users/" + user
		}
	}
	return ""
}

// actorLabel names who acted: the email for users, type:id otherwise.
func actorLabel(e app.AuditEvent) string {
	if e.ActorEmail != "" {
		return e.ActorEmail
	}
	if e.ActorID != "" {
		return string(e.ActorType) + ":" + e.ActorID
	}
	return string(e.ActorType)
}

// auditDetail shows every field of one record; unknown ids are 404.
func (h *handler) auditDetail(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.pathID(w, r, a, "audit record")
	if !ok {
		return
	}
	e, err := h.svc.AuditEvent(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	d := views.AuditDetail{
		ID: strconv.FormatInt(e.ID, 10), Time: e.At.UTC().Format("2006-01-02 15:04:05.000 UTC"),
		ActorType: string(e.ActorType), ActorID: e.ActorID, ActorEmail: e.ActorEmail, Event: e.Event,
		ResourceType: e.ResourceType, ResourceID: e.ResourceID, Payload: prettyJSON(e.Payload),
		PrevHash: e.PrevHash, Hash: e.Hash,
	}
	h.render(w, r, http.StatusOK, views.AuditDetailPage(h.page(a, fmt.Sprintf("Audit record %d", e.ID), views.NavAudit, ""), d))
}

// keepParams is q reduced to the non-empty values of keys.
func keepParams(q url.Values, keys ...string) url.Values {
	out := url.Values{}
	for _, k := range keys {
		if v := q.Get(k); v != "" {
			out.Set(k, v)
		}
	}
	return out
}

// auditExport streams the same export as GET /api/v1/audit/export for the
// filter's time range, under the console session.
func (h *handler) auditExport(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	aq, err := parseAuditQuery(keepParams(r.URL.Query(), "from", "to"))
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	x, err := h.svc.PrepareAuditExport(r.Context(), a.actor, aq.From, aq.To)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="audit-export.jsonl"`)
	if err := x.WriteTo(r.Context(), w); err != nil {
		h.log.ErrorContext(r.Context(), "console: audit export", "err", err)
	}
}
