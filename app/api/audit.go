package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/httpx"
)

type actorJSON struct {
	Type  app.ActorType `json:"type"`
	ID    string        `json:"id"`
	Email string        `json:"email,omitempty"`
}

type auditJSON struct {
	ID           int64           `json:"id"`
	At           string          `json:"at"`
	Actor        actorJSON       `json:"actor"`
	Event        string          `json:"event"`
	ResourceType string          `json:"resource_type"`
	ResourceID   string          `json:"resource_id"`
	Payload      json.RawMessage `json:"payload"`
	PrevHash     string          `json:"prev_hash"`
	Hash         string          `json:"hash"`
}

// AuditJSON is the one JSON shape of an audit record (API and export).
func AuditJSON(e *app.AuditEvent) any { return toAuditJSON(e) }

func toAuditJSON(e *app.AuditEvent) auditJSON {
	return auditJSON{ID: e.ID, At: rfc3339(e.At), Actor: actorJSON{Type: e.ActorType, ID: e.ActorID, Email: e.ActorEmail},
		Event: e.Event, ResourceType: e.ResourceType, ResourceID: e.ResourceID, Payload: e.Payload,
		PrevHash: e.PrevHash, Hash: e.Hash}
}

// ParseAuditQuery reads the audit filters shared by the API and the console.
func ParseAuditQuery(q url.Values) (app.AuditQuery, error) {
	var out app.AuditQuery
	for _, k := range []string{"from", "to"} {
		v := q.Get(k)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return out, app.Errorf(app.EINVALID, "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", k)
		}
		if k == "from" {
			out.From = t
		} else {
			out.To = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > app.MaxAuditLimit {
			return out, app.Errorf(app.EINVALID, "limit must be between 1 and %d", app.MaxAuditLimit)
		}
		out.Limit = n
	}
	out.ResourceType = q.Get("resource_type")
	out.ResourceID = q.Get("resource_id")
	out.Actor = q.Get("actor")
	out.Event = q.Get("event")
	out.Cursor = q.Get("cursor")
	return out, nil
}

func (a *api) listAudit(w http.ResponseWriter, r *http.Request) {
	q, err := ParseAuditQuery(r.URL.Query())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	page, err := a.svc.ListAudit(r.Context(), actorFrom(r.Context()), q)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]auditJSON, 0, len(page.Events))
	for i := range page.Events {
		out = append(out, toAuditJSON(&page.Events[i]))
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"events": out, "next_cursor": page.NextCursor})
}

func (a *api) getAudit(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		a.fail(w, r, err)
		return
	}
	e, err := a.svc.AuditEvent(r.Context(), actorFrom(r.Context()), id)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, toAuditJSON(e))
}

func (a *api) listCheckpoints(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > app.MaxCheckpointLimit {
			a.fail(w, r, app.Errorf(app.EINVALID, "limit must be between 1 and %d", app.MaxCheckpointLimit))
			return
		}
		limit = n
	}
	page, err := a.svc.ListCheckpoints(r.Context(), actorFrom(r.Context()), q.Get("cursor"), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	out := make([]app.CheckpointLine, 0, len(page.Checkpoints))
	for i := range page.Checkpoints {
		out = append(out, page.Checkpoints[i].Line())
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"checkpoints": out, "next_cursor": page.NextCursor})
}

func (a *api) checkpointKey(w http.ResponseWriter, r *http.Request) {
	k, err := a.svc.AuditCheckpointKey(r.Context(), actorFrom(r.Context()))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]string{"algorithm": k.Algorithm, "key_id": k.KeyID,
		"public_key": base64.StdEncoding.EncodeToString(k.PublicKey)})
}

// exportAudit streams the audit log as JSON Lines (app.AuditExport). Errors
// found before the first line are JSON errors; one mid-stream ends the body
// without its end line, which verify --file reports as cut short.
func (a *api) exportAudit(w http.ResponseWriter, r *http.Request) {
	q, err := ParseAuditQuery(url.Values{"from": r.URL.Query()["from"], "to": r.URL.Query()["to"]})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	x, err := a.svc.PrepareAuditExport(r.Context(), actorFrom(r.Context()), q.From, q.To)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Content-Disposition", `attachment; filename="audit-export.jsonl"`)
	if err := x.WriteTo(r.Context(), w); err != nil {
		a.log.ErrorContext(r.Context(), "audit export", "err", err)
	}
}
