package api

import (
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
)

type assetJSON struct {
	ID          int64           `json:"id"`
	ConnectorID int64           `json:"connector"`
	Kind        string          `json:"kind"`
	ExternalID  string          `json:"external_id"`
	Name        string          `json:"name"`
	Attributes  json.RawMessage `json:"attributes"`
	FirstSeen   string          `json:"first_seen"`
	LastSeen    string          `json:"last_seen"`
	GoneAt      *string         `json:"gone_at"`
	// AllowedActions are what the caller may do to it now (app.AssetActions).
	AllowedActions []string `json:"allowed_actions"`
}

func toAssetJSON(a *app.Asset, acts app.Actions) assetJSON {
	return assetJSON{ID: a.ID, ConnectorID: a.ConnectorID, Kind: a.Kind, ExternalID: a.ExternalID, Name: a.Name,
		Attributes: a.Attributes, FirstSeen: rfc3339(a.FirstSeen), LastSeen: rfc3339(a.LastSeen), GoneAt: optTime(a.GoneAt),
		AllowedActions: acts.Names()}
}

type findingJSON struct {
	ID          int64        `json:"id"`
	AssetID     int64        `json:"asset_id"`
	ConnectorID int64        `json:"connector_id"`
	Rule        string       `json:"rule"`
	Severity    app.Severity `json:"severity"`
	Message     string       `json:"message"`
	Remedy      *remedyJSON  `json:"remedy"`
	FirstSeen   string       `json:"first_seen"`
	LastSeen    string       `json:"last_seen"`
	ResolvedAt  *string      `json:"resolved_at"`
}

// remedyJSON is the operation that fixes a finding, ready to put into a
// change request's operations.
type remedyJSON struct {
	Type   string          `json:"type"`
	Params json.RawMessage `json:"params"`
}

func toFindingJSON(f *app.Finding) findingJSON {
	out := findingJSON{ID: f.ID, AssetID: f.AssetID, ConnectorID: f.ConnectorID, Rule: f.Rule, Severity: f.Severity,
		Message: f.Message, FirstSeen: rfc3339(f.FirstSeen), LastSeen: rfc3339(f.LastSeen), ResolvedAt: optTime(f.ResolvedAt)}
	if f.RemedyType != "" {
		out.Remedy = &remedyJSON{Type: f.RemedyType, Params: f.RemedyParams}
	}
	return out
}

type driftJSON struct {
	ID             int64           `json:"id"`
	ConnectorID    int64           `json:"connector_id"`
	AssetID        int64           `json:"asset_id"`
	Kind           string          `json:"kind"`
	ExternalID     string          `json:"external_id"`
	Name           string          `json:"name"`
	Change         app.DriftChange `json:"change"`
	Before         json.RawMessage `json:"before"`
	After          json.RawMessage `json:"after"`
	DetectedAt     string          `json:"detected_at"`
	AcknowledgedBy int64           `json:"acknowledged_by,omitempty"`
	AcknowledgedAt *string         `json:"acknowledged_at"`
	AckComment     string          `json:"ack_comment,omitempty"`
}

func toDriftJSON(d *app.Drift) driftJSON {
	return driftJSON{ID: d.ID, ConnectorID: d.ConnectorID, AssetID: d.AssetID, Kind: d.Kind, ExternalID: d.ExternalID,
		Name: d.Name, Change: d.Change, Before: d.Before, After: d.After, DetectedAt: rfc3339(d.DetectedAt),
		AcknowledgedBy: d.AcknowledgedBy, AcknowledgedAt: optTime(d.AcknowledgedAt), AckComment: d.AckComment}
}

func queryID(r *http.Request, name string) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, app.Errorf(app.EINVALID, "%s must be a positive integer id", name)
	}
	return n, nil
}

func queryLimit(r *http.Request, max int) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, app.Errorf(app.EINVALID, "limit must be between 1 and %d", max)
	}
	return n, nil
}

func queryBool(r *http.Request, name string) (bool, error) {
	switch v := r.URL.Query().Get(name); v {
	case "", "false", "0":
		return false, nil
	case "true", "1":
		return true, nil
	default:
		return false, app.Errorf(app.EINVALID, "%s must be true or false", name)
	}
}

func (a *api) listAssets(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := app.AssetFilter{Kind: q.Get("kind"), Text: q.Get("q"), Finding: q.Get("finding")}
	var err error
	if f.ConnectorID, err = queryID(r, "connector"); err == nil {
		if f.Limit, err = queryLimit(r, 500); err == nil {
			f.IncludeGone, err = queryBool(r, "include_gone")
		}
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page, err := a.svc.ListAssets(r.Context(), actorFrom(r.Context()), f, q.Get("cursor"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	acts, err := a.svc.AssetsActions(r.Context(), actorFrom(r.Context()), page.Assets)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]assetJSON, 0, len(page.Assets))
	for i := range page.Assets {
		out = append(out, toAssetJSON(&page.Assets[i], acts[i]))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"assets": out, "next_cursor": page.NextCursor})
}

func (a *api) getAsset(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	act := actorFrom(r.Context())
	d, err := a.svc.GetAsset(r.Context(), act, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, assetDetailJSON(d, a.svc.AssetActions(act, d)))
}

func assetDetailJSON(d *app.AssetDetail, acts app.Actions) map[string]any {
	fs := make([]findingJSON, 0, len(d.Findings))
	for i := range d.Findings {
		fs = append(fs, toFindingJSON(&d.Findings[i]))
	}
	return map[string]any{"asset": toAssetJSON(d.Asset, acts), "findings": fs, "revocable": d.Revocable}
}

type syncResultJSON struct {
	Seen             int `json:"seen"`
	Appeared         int `json:"appeared"`
	Changed          int `json:"changed"`
	Disappeared      int `json:"disappeared"`
	Drift            int `json:"drift"`
	FindingsOpen     int `json:"findings_open"`
	FindingsResolved int `json:"findings_resolved"`
}

func toSyncResultJSON(res *app.SyncResult) syncResultJSON {
	return syncResultJSON{Seen: res.Seen, Appeared: res.Appeared, Changed: res.Changed, Disappeared: res.Disappeared,
		Drift: res.Drift, FindingsOpen: res.FindingsOpen, FindingsResolved: res.FindingsResolved}
}

// syncAsset is "sync this asset": 200 with the asset as its target has it
// now (gone_at set when it no longer does) and what the sync changed.
func (a *api) syncAsset(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := decodeOptional(w, r, &struct{}{}); err != nil {
		a.fail(w, r, err)
		return
	}
	act := actorFrom(r.Context())
	res, err := a.svc.SyncAsset(r.Context(), act, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.svc.GetAsset(r.Context(), act, id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := assetDetailJSON(d, a.svc.AssetActions(act, d))
	out["sync"] = toSyncResultJSON(res)
	httpx.WriteJSON(w, http.StatusOK, out)
}

type revokeRequest struct {
	Reason string `json:"reason"`
}

// revokeAsset is "revoke now": 201 with the change request it made.
func (a *api) revokeAsset(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req revokeRequest
	if err := decodeOptional(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	act := actorFrom(r.Context())
	c, err := a.svc.RevokeAsset(r.Context(), act, id, req.Reason)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusCreated, toChangeJSON(c, a.svc.ChangeActions(act, c)))
}

func (a *api) listFindings(w http.ResponseWriter, r *http.Request) {
	var f app.FindingFilter
	var err error
	if f.ConnectorID, err = queryID(r, "connector"); err == nil {
		if f.AssetID, err = queryID(r, "asset"); err == nil {
			if f.Limit, err = queryLimit(r, 500); err == nil {
				var all bool
				all, err = queryBool(r, "include_resolved")
				f.OpenOnly = !all
			}
		}
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	fs, err := a.svc.ListFindings(r.Context(), actorFrom(r.Context()), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]findingJSON, 0, len(fs))
	for i := range fs {
		out = append(out, toFindingJSON(&fs[i]))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"findings": out})
}

func (a *api) listDrift(w http.ResponseWriter, r *http.Request) {
	var f app.DriftFilter
	var err error
	if f.ConnectorID, err = queryID(r, "connector"); err == nil {
		if f.Limit, err = queryLimit(r, 500); err == nil {
			var all bool
			all, err = queryBool(r, "include_acknowledged")
			f.OpenOnly = !all
		}
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ds, err := a.svc.ListDrift(r.Context(), actorFrom(r.Context()), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]driftJSON, 0, len(ds))
	for i := range ds {
		out = append(out, toDriftJSON(&ds[i]))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"drift": out})
}

func (a *api) acknowledgeDrift(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var req commentRequest
	if err := decodeOptional(w, r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.svc.AcknowledgeDrift(r.Context(), actorFrom(r.Context()), id, req.Comment)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toDriftJSON(d))
}

func (a *api) syncConnector(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	res, err := a.svc.SyncConnector(r.Context(), actorFrom(r.Context()), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toSyncResultJSON(res))
}
