package api

import (
	"encoding/json"
	"net/http"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
)

type approvalPolicyJSON struct {
	RequiredApprovals *int `json:"required_approvals"`
}

// connectorJSON never carries credentials: only whether and when they were set.
type connectorJSON struct {
	ID                   int64              `json:"id"`
	Name                 string             `json:"name"`
	Type                 string             `json:"type"`
	Config               json.RawMessage    `json:"config"`
	CredentialsSet       bool               `json:"credentials_set"`
	CredentialsUpdatedAt *string            `json:"credentials_updated_at"`
	ApprovalPolicy       approvalPolicyJSON `json:"approval_policy"`
	// Version bumps when config, credentials or approval policy change;
	// approvals bind to it.
	Version   int64  `json:"version"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	// AllowedActions are what the caller may do to it now (app.ConnectorActions).
	AllowedActions []string `json:"allowed_actions"`
}

func toConnectorJSON(c *app.Connector, acts app.Actions) connectorJSON {
	n := c.RequiredApprovals
	out := connectorJSON{ID: c.ID, Name: c.Name, Type: c.Type, Config: c.Config,
		CredentialsSet: c.SealedCredentials != nil, ApprovalPolicy: approvalPolicyJSON{RequiredApprovals: &n},
		Version: c.Version, CreatedAt: rfc3339(c.CreatedAt), UpdatedAt: rfc3339(c.UpdatedAt), AllowedActions: acts.Names()}
	if !c.CredentialsUpdatedAt.IsZero() {
		t := rfc3339(c.CredentialsUpdatedAt)
		out.CredentialsUpdatedAt = &t
	}
	return out
}

type connectorRequest struct {
	Name           *string             `json:"name"`
	Type           string              `json:"type"`
	Config         json.RawMessage     `json:"config"`
	Credentials    json.RawMessage     `json:"credentials"`
	ApprovalPolicy *approvalPolicyJSON `json:"approval_policy"`
}

func (r connectorRequest) requiredApprovals() *int {
	if r.ApprovalPolicy == nil {
		return nil
	}
	return r.ApprovalPolicy.RequiredApprovals
}

func (a *api) listConnectors(w http.ResponseWriter, r *http.Request) {
	act := actorFrom(r.Context())
	cs, err := a.svc.ListConnectors(r.Context(), act)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]connectorJSON, 0, len(cs))
	for i := range cs {
		out = append(out, toConnectorJSON(&cs[i], a.svc.ConnectorActions(act, &cs[i])))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"connectors": out})
}

func (a *api) createConnector(w http.ResponseWriter, r *http.Request) {
	act := actorFrom(r.Context())
	if err := a.svc.ListActions(act).Err(app.ActionManageConnectors); err != nil {
		a.fail(w, r, err) // before reading the body
		return
	}
	var req connectorRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	name := ""
	if req.Name != nil {
		name = *req.Name
	}
	c, err := a.svc.CreateConnector(r.Context(), act, app.ConnectorInput{Name: name, Type: req.Type,
		Config: req.Config, Credentials: req.Credentials, RequiredApprovals: req.requiredApprovals()})
	clear(req.Credentials)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, toConnectorJSON(c, a.svc.ConnectorActions(act, c)))
}

func (a *api) getConnector(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	act := actorFrom(r.Context())
	c, err := a.svc.GetConnector(r.Context(), act, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toConnectorJSON(c, a.svc.ConnectorActions(act, c)))
}

func (a *api) updateConnector(w http.ResponseWriter, r *http.Request) {
	act := actorFrom(r.Context())
	if err := a.svc.ListActions(act).Err(app.ActionManageConnectors); err != nil {
		a.fail(w, r, err) // before reading the body
		return
	}
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req connectorRequest
	if err := decode(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Type != "" {
		a.fail(w, r, app.Errorf(app.EINVALID, "a connector's type cannot change; create a new connector"))
		return
	}
	c, err := a.svc.UpdateConnector(r.Context(), act, id, app.ConnectorPatch{Name: req.Name, Config: req.Config,
		Credentials: req.Credentials, RequiredApprovals: req.requiredApprovals()})
	clear(req.Credentials)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toConnectorJSON(c, a.svc.ConnectorActions(act, c)))
}

func (a *api) deleteConnector(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.svc.DeleteConnector(r.Context(), actorFrom(r.Context()), id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// testConnector answers 200 either way: the test ran; ok says how it went.
func (a *api) testConnector(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	msg, err := a.svc.TestConnector(r.Context(), actorFrom(r.Context()), id)
	switch app.ErrCode(err) {
	case "":
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "message": msg})
	case app.EUNAVAILABLE, app.EINVALID:
		httpx.WriteJSON(w, http.StatusOK, map[string]any{"ok": false, "message": app.ErrMessage(err)})
	default:
		a.fail(w, r, err)
	}
}
