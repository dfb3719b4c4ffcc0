package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
)

// agentJSON is an agent as the API shows it. Users (the host inventory)
// appears only on the single-agent view.
type agentJSON struct {
	ID            string            `json:"id"`
	Hostname      string            `json:"hostname"`
	Labels        map[string]string `json:"labels"`
	Status        string            `json:"status"` // online | offline | revoked
	LastSeen      *string           `json:"last_seen"`
	Version       string            `json:"version"`
	CertSerial    string            `json:"cert_serial"`
	CertExpiresAt string            `json:"cert_expires_at"`
	EnrolledAt    string            `json:"enrolled_at"`
	Revoked       bool              `json:"revoked"`
	RevokedAt     *string           `json:"revoked_at"`
	Facts         json.RawMessage   `json:"facts"`
	Users         json.RawMessage   `json:"users,omitempty"`
	// AllowedActions are what the caller may do to it now (app.AgentActions).
	AllowedActions []string `json:"allowed_actions"`
}

func toAgentJSON(ag *app.Agent, acts app.Actions, now time.Time, withUsers bool) agentJSON {
	out := agentJSON{ID: ag.ID, Hostname: ag.Hostname, Labels: ag.Labels, Status: ag.Status(now),
		LastSeen: optTime(ag.LastSeen), Version: ag.Version, CertSerial: ag.CertSerial,
		CertExpiresAt: rfc3339(ag.CertNotAfter), EnrolledAt: rfc3339(ag.EnrolledAt), Revoked: ag.Revoked,
		RevokedAt: optTime(ag.RevokedAt), Facts: ag.Facts, AllowedActions: acts.Names()}
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	if out.Facts == nil {
		out.Facts = json.RawMessage(`null`)
	}
	if withUsers {
		out.Users = ag.Users
		if out.Users == nil {
			out.Users = json.RawMessage(`[]`)
		}
	}
	return out
}

type enrollmentTokenRequest struct {
	Labels map[string]string `json:"labels"`
	TTL    string            `json:"ttl"`
}

// createEnrollmentToken answers 201 with the token (shown this once) and
// the exact command to run on the host.
func (a *api) createEnrollmentToken(w http.ResponseWriter, r *http.Request) {
	act := actorFrom(r.Context())
	if err := a.svc.ListActions(act).Err(app.ActionCreateEnrollmentToken); err != nil {
		a.fail(w, r, err) // before reading the body
		return
	}
	var req enrollmentTokenRequest
	if err := decodeOptional(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	var ttl time.Duration
	if req.TTL != "" {
		var err error
		if ttl, err = time.ParseDuration(req.TTL); err != nil || ttl <= 0 {
			a.fail(w, r, app.Errorf(app.EINVALID, "ttl must be a duration between 1m and 24h, such as \"1h\""))
			return
		}
	}
	token, et, err := a.svc.CreateEnrollmentToken(r.Context(), act, req.Labels, ttl)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, map[string]any{
		"id": et.ID, "token": token, "expires_at": rfc3339(et.ExpiresAt), "labels": et.Labels,
		"command": a.enrollCommand(token),
	})
}

// enrollCommand is the line an Admin pastes on the host. The fingerprint
// lets the agent trust the listener on first contact without a CA file.
func (a *api) enrollCommand(token string) string {
	fp := a.svc.AgentCAFingerprint()
	if a.caFingerprint != nil {
		fp = a.caFingerprint()
	}
	url := strings.TrimRight(a.agentURL, "/")
	if url == "" {
		url = "https://<agent-listener-host>:8444"
	}
	return "nexplane-agent enroll --server " + url + " --token " + token + " --ca-sha256 " + fp
}

func (a *api) listAgents(w http.ResponseWriter, r *http.Request) {
	act := actorFrom(r.Context())
	ags, err := a.svc.ListAgents(r.Context(), act)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	now := a.svc.Now()
	out := make([]agentJSON, 0, len(ags))
	for i := range ags {
		out = append(out, toAgentJSON(&ags[i], a.svc.AgentActions(act, &ags[i]), now, false))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"agents": out})
}

func (a *api) getAgent(w http.ResponseWriter, r *http.Request) {
	act := actorFrom(r.Context())
	ag, err := a.svc.GetAgent(r.Context(), act, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toAgentJSON(ag, a.svc.AgentActions(act, ag), a.svc.Now(), true))
}

// revokeAgent is the lock: 200 with the agent, revoked. Repeating it is
// harmless.
func (a *api) revokeAgent(w http.ResponseWriter, r *http.Request) {
	act := actorFrom(r.Context())
	if err := a.svc.ListActions(act).Err(app.ActionManageAgents); err != nil {
		a.fail(w, r, err) // before reading the body or the agent
		return
	}
	if err := decodeOptional(w, r, &struct{}{}); err != nil {
		a.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	if !app.ValidAgentID(id) {
		a.fail(w, r, app.Errorf(app.ENOTFOUND, "agent not found"))
		return
	}
	ag, err := a.svc.RevokeAgent(r.Context(), act, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toAgentJSON(ag, a.svc.AgentActions(act, ag), a.svc.Now(), false))
}
