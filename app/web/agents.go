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

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/views"
)

// agentURLPlaceholder stands in for the agent listener's address when the
// server was not told its public URL (the API uses the same one).
const agentURLPlaceholder = "https://<agent-listener-host>:8444"

// enrollmentTTLs are the token lifetimes the form offers; nothing else is
// accepted from it.
var enrollmentTTLs = []choice{
	{Value: "15m", Label: "15 minutes"},
	{Value: "1h", Label: "1 hour"},
	{Value: "4h", Label: "4 hours"},
	{Value: "24h", Label: "24 hours"},
}

// defaultEnrollmentTTL is the form's preselected lifetime (app's default).
const defaultEnrollmentTTL = "1h"

// maxLabelLines bounds the labels textarea before app's own limits apply.
const maxLabelLines = 64

func (h *handler) agentRoutes(mux *http.ServeMux) {
	mux.Handle("GET /agents", h.authed(h.listAgents))
	mux.Handle("POST /agents", h.authed(h.createEnrollmentToken))
	mux.Handle("GET /agents/{id}", h.authed(h.agentDetail))
	mux.Handle("GET /agents/{id}/revoke", h.authed(h.confirmRevokeAgent))
	mux.Handle("POST /agents/{id}/revoke", h.authed(h.revokeAgent))
}

func agentURL(id string) string { return "/agents/" + id }

// sortedLabels are labels as "key=value", by key.
func sortedLabels(labels map[string]string) []string {
	out := make([]string, 0, len(labels))
	for k, v := range labels {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// agentFacts decodes an agent's last facts; false before the first
// heartbeat or when they cannot be read.
func agentFacts(raw json.RawMessage) (ops.Facts, bool) {
	var f ops.Facts
	if len(raw) == 0 || string(raw) == "null" {
		return f, false
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		return f, false
	}
	return f, true
}

func ttlOptions(selected string) []views.Option {
	out := make([]views.Option, 0, len(enrollmentTTLs))
	for _, t := range enrollmentTTLs {
		out = append(out, views.Option{Value: t.Value, Label: t.Label, Selected: t.Value == selected})
	}
	return out
}

// listAgents shows the agent table and, for admins, the token form.
func (h *handler) listAgents(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	h.renderAgents(w, r, a, http.StatusOK, views.EnrollmentTokenForm{TTLs: ttlOptions(defaultEnrollmentTTL)}, h.popFlash(w, r, a))
}

func (h *handler) renderAgents(w http.ResponseWriter, r *http.Request, a *sessionUser, status int, form views.EnrollmentTokenForm, flash string) {
	ags, err := h.svc.ListAgents(r.Context(), a.actor)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	now := h.svc.Now()
	v := views.AgentsView{CanManage: h.svc.ListActions(a.actor).Allowed(app.ActionCreateEnrollmentToken),
		EnrollmentOff: h.svc.AgentCAFingerprint() == "", Token: form}
	for i := range ags {
		ag := &ags[i]
		row := views.AgentRow{ID: ag.ID, Hostname: ag.Hostname, Status: ag.Status(now), Version: ag.Version,
			CertExpiry: formatTime(ag.CertNotAfter), Labels: sortedLabels(ag.Labels), DetailURL: agentURL(ag.ID)}
		if !ag.LastSeen.IsZero() {
			row.LastSeen = formatTime(ag.LastSeen)
		}
		if f, ok := agentFacts(ag.Facts); ok {
			row.OS = f.OS
		}
		v.Rows = append(v.Rows, row)
	}
	h.render(w, r, status, views.AgentsPage(h.page(a, "Agents", views.NavAgents, flash), v))
}

// parseLabelLines reads "key=value" lines; blank lines are skipped.
// app validates keys and values once more.
func parseLabelLines(s string) (map[string]string, error) {
	labels := map[string]string{}
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	if len(lines) > maxLabelLines {
		return nil, app.Errorf(app.EINVALID, "labels: at most %d lines", maxLabelLines)
	}
	for i, line := range lines {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" {
			return nil, app.Errorf(app.EINVALID, "labels, line %d: %q is not key=value", i+1, line)
		}
		if _, dup := labels[k]; dup {
			return nil, app.Errorf(app.EINVALID, "labels, line %d: label %q is given twice", i+1, k)
		}
		labels[k] = v
	}
	if err := app.ValidateLabels(labels); err != nil {
		return nil, err
	}
	return labels, nil
}

// parseTTL accepts only the form's choices; empty means the default.
func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		s = defaultEnrollmentTTL
	}
	for _, t := range enrollmentTTLs {
		if t.Value == s {
			return time.ParseDuration(s)
		}
	}
	return 0, app.Errorf(app.EINVALID, "token lifetime must be one of 15m, 1h, 4h or 24h")
}

// createEnrollmentToken makes a token and sends the browser to the
// one-time page that shows it in the enroll command. The form posts to
// /agents, its own page, so a refused input re-renders there with what was
// typed.
func (h *handler) createEnrollmentToken(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	if err := h.svc.ListActions(a.actor).Err(app.ActionCreateEnrollmentToken); err != nil {
		h.renderError(w, r, a, err)
		return
	}
	if !h.parseForm(w, r, a) {
		return
	}
	rawLabels, rawTTL := r.PostForm.Get("labels"), r.PostForm.Get("ttl")
	labels, err := parseLabelLines(rawLabels)
	var ttl time.Duration
	if err == nil {
		ttl, err = parseTTL(rawTTL)
	}
	var token string
	var et *app.EnrollmentToken
	if err == nil {
		token, et, err = h.svc.CreateEnrollmentToken(r.Context(), a.actor, labels, ttl)
	}
	if err != nil {
		if app.ErrCode(err) != app.EINVALID {
			h.renderError(w, r, a, err)
			return
		}
		selected := rawTTL
		if !slices.ContainsFunc(enrollmentTTLs, func(t choice) bool { return t.Value == rawTTL }) {
			selected = defaultEnrollmentTTL
		}
		h.renderAgents(w, r, a, http.StatusBadRequest,
			views.EnrollmentTokenForm{Labels: rawLabels, TTLs: ttlOptions(selected), Error: errMessage(err)}, "")
		return
	}
	facts := []app.RevealFact{{Label: "Expires", Value: formatTime(et.ExpiresAt)},
		{Label: "Use", Value: "Once: the first host that enrolls with it uses it up."}}
	if ls := sortedLabels(et.Labels); len(ls) > 0 {
		facts = append(facts, app.RevealFact{Label: "Labels", Value: strings.Join(ls, ", ")})
	}
	h.showOnce(w, r, a, app.OneTimeSecret{Kind: app.RevealEnrollmentToken, Title: "Enrollment token", Secret: token,
		Facts: facts, Back: "/agents"})
}

// agentID reads the {id} path value; false means a 404 was sent.
func (h *handler) agentID(w http.ResponseWriter, r *http.Request, a *sessionUser) (string, bool) {
	id := r.PathValue("id")
	if !app.ValidAgentID(id) {
		h.renderStatus(w, r, a, http.StatusNotFound, "Not found", "There is no such agent.")
		return "", false
	}
	return id, true
}

// agentDetail shows one agent with its facts and local users.
func (h *handler) agentDetail(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.agentID(w, r, a)
	if !ok {
		return
	}
	ag, err := h.svc.GetAgent(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	v := h.agentDetailView(a, ag)
	h.render(w, r, http.StatusOK, views.AgentDetailPage(h.page(a, "Agent "+ag.Hostname, views.NavAgents, h.popFlash(w, r, a)), v))
}

func (h *handler) agentDetailView(a *sessionUser, ag *app.Agent) views.AgentDetailView {
	v := views.AgentDetailView{ID: ag.ID, URL: agentURL(ag.ID), Hostname: ag.Hostname, Status: ag.Status(h.svc.Now()),
		Enrolled: formatTime(ag.EnrolledAt), Version: ag.Version, Labels: sortedLabels(ag.Labels),
		CertSerial: ag.CertSerial, CertExpiry: formatTime(ag.CertNotAfter),
		AssetsURL: "/assets?q=" + url.QueryEscape(ag.Hostname),
		CanRevoke: h.svc.AgentActions(a.actor, ag).Allowed(app.ActionRevoke)}
	if !ag.LastSeen.IsZero() {
		v.LastSeen = formatTime(ag.LastSeen)
		v.UsersAsOf = v.LastSeen
	}
	if !ag.RevokedAt.IsZero() {
		v.RevokedAt = formatTime(ag.RevokedAt)
	}
	if f, ok := agentFacts(ag.Facts); ok {
		v.HasFacts = true
		v.OS, v.Kernel = f.OS, f.Kernel
		if f.AgentVersion != "" {
			v.Version = f.AgentVersion
		}
		v.Uptime = (time.Duration(f.UptimeSeconds) * time.Second).String()
	}
	var users []ops.HostUser
	if len(ag.Users) > 0 && string(ag.Users) != "null" && json.Unmarshal(ag.Users, &users) == nil {
		v.HasUsers = true
		slices.SortFunc(users, func(x, y ops.HostUser) int {
			if x.UID != y.UID {
				return x.UID - y.UID
			}
			return strings.Compare(x.Name, y.Name)
		})
		for _, u := range users {
			row := views.HostUserRow{Name: u.Name, UID: strconv.Itoa(u.UID), Shell: u.Shell, Home: u.Home, Locked: u.Locked}
			for _, k := range u.SSHKeys {
				row.Keys = append(row.Keys, views.SSHKeyRow{Fingerprint: k.Fingerprint, Type: k.Type, Comment: k.Comment})
			}
			v.Users = append(v.Users, row)
		}
	}
	return v
}

// confirmRevokeAgent is the confirmation step of a revoke: a page with the
// form that really revokes, so no click revokes without JavaScript.
func (h *handler) confirmRevokeAgent(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.agentID(w, r, a)
	if !ok {
		return
	}
	ag, err := h.svc.GetAgent(r.Context(), a.actor, id)
	if err != nil {
		h.renderError(w, r, a, err)
		return
	}
	if err := h.svc.AgentActions(a.actor, ag).Err(app.ActionRevoke); err != nil {
		if app.ErrCode(err) != app.ECONFLICT { // not allowed at all
			h.renderError(w, r, a, err)
			return
		}
		h.addFlash(w, r, a, fmt.Sprintf("Agent %s is already revoked.", ag.Hostname))
		redirect(w, r, agentURL(id))
		return
	}
	v := views.AgentRevokeView{ID: ag.ID, URL: agentURL(ag.ID), Hostname: ag.Hostname}
	h.render(w, r, http.StatusOK, views.AgentRevokePage(h.page(a, "Revoke agent "+ag.Hostname, views.NavAgents, ""), v))
}

// revokeAgent locks an agent out once confirmed; without the confirm field
// it sends the browser to the confirmation step.
func (h *handler) revokeAgent(w http.ResponseWriter, r *http.Request, a *sessionUser) {
	id, ok := h.agentID(w, r, a)
	if !ok || !h.parseForm(w, r, a) {
		return
	}
	if r.PostForm.Get("confirm") != deleteConfirmed {
		redirect(w, r, agentURL(id)+"/revoke")
		return
	}
	ag, err := h.svc.RevokeAgent(r.Context(), a.actor, id)
	if err != nil {
		h.refuse(w, r, a, agentURL(id), err, nil)
		return
	}
	h.addFlash(w, r, a, fmt.Sprintf("Agent %s revoked: its certificate no longer works.", ag.Hostname))
	redirect(w, r, agentURL(id))
}
