package app

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"
)

// GenesisHash is the prev_hash of the first audit record.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// AuditEvent is one append-only audit record. ID, PrevHash and Hash are
// assigned by the store inside the transaction that appends it.
type AuditEvent struct {
	ID           int64
	At           time.Time // UTC, millisecond precision
	ActorType    ActorType
	ActorID      string
	ActorEmail   string
	Event        string // dotted, e.g. user.role_changed
	ResourceType string
	ResourceID   string
	Payload      json.RawMessage // compact JSON object; never a secret
	PrevHash     string
	Hash         string
}

// canonicalAudit fixes the field order and encoding that the hash covers.
type canonicalAudit struct {
	ID           int64           `json:"id"`
	AtMS         int64           `json:"at_ms"`
	ActorType    ActorType       `json:"actor_type"`
	ActorID      string          `json:"actor_id"`
	ActorEmail   string          `json:"actor_email"`
	Event        string          `json:"event"`
	ResourceType string          `json:"resource_type"`
	ResourceID   string          `json:"resource_id"`
	Payload      json.RawMessage `json:"payload"`
	PrevHash     string          `json:"prev_hash"`
}

// ComputeHash returns hex(SHA-256(canonical JSON of the record including
// PrevHash)). Payload is hashed in its compact form, which is how it is stored.
// A text column that is not valid UTF-8 is an error, not hashed: JSON would
// encode every invalid byte as U+FFFD, so a tampered byte could keep the hash.
// Nexplane never writes such text, so on verify it is a break.
func (e *AuditEvent) ComputeHash() (string, error) {
	for _, col := range [...]struct{ name, v string }{{"actor_type", string(e.ActorType)}, {"actor_id", e.ActorID},
		{"actor_email", e.ActorEmail}, {"event", e.Event}, {"resource_type", e.ResourceType},
		{"resource_id", e.ResourceID}, {"prev_hash", e.PrevHash}} {
		if !utf8.ValidString(col.v) {
			return "", fmt.Errorf("audit record %d: %s is not valid UTF-8", e.ID, col.name)
		}
	}
	if !utf8.Valid(e.Payload) {
		return "", fmt.Errorf("audit record %d: payload is not valid UTF-8", e.ID)
	}
	payload := e.Payload
	if len(payload) == 0 {
		payload = json.RawMessage(`{}`)
	}
	b, err := json.Marshal(canonicalAudit{
		ID: e.ID, AtMS: e.At.UnixMilli(), ActorType: e.ActorType, ActorID: e.ActorID,
		ActorEmail: e.ActorEmail, Event: e.Event, ResourceType: e.ResourceType,
		ResourceID: e.ResourceID, Payload: payload, PrevHash: e.PrevHash,
	})
	if err != nil {
		return "", fmt.Errorf("audit record %d: canonical encoding: %w", e.ID, err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// ContentDigest is the hash of the record without its place in the chain
// (id 0, GenesisHash as prev_hash): the same record keeps it when records
// before it are inserted or removed and the chain recomputed.
func (e *AuditEvent) ContentDigest() (string, error) {
	c := *e
	c.ID, c.PrevHash = 0, GenesisHash
	return c.ComputeHash()
}

// NewAuditEvent builds an event for actor with payload marshalled to compact
// JSON. The store fills ID, PrevHash and Hash.
func NewAuditEvent(at time.Time, actor Actor, event, resourceType, resourceID string, payload any) (*AuditEvent, error) {
	var raw json.RawMessage = json.RawMessage(`{}`)
	if payload != nil {
		b, err := json.Marshal(payload)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	if actor.TokenID != 0 {
		// The record names the API token the actor came with.
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil || m == nil {
			m = map[string]json.RawMessage{}
			if string(raw) != "{}" && string(raw) != "null" {
				m["payload"] = raw
			}
		}
		via, err := json.Marshal(map[string]any{"id": actor.TokenID, "name": actor.TokenName})
		if err != nil {
			return nil, err
		}
		m["via_token"] = via
		b, err := json.Marshal(m)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	return &AuditEvent{
		At: at.UTC().Truncate(time.Millisecond), ActorType: actor.Type, ActorID: actor.ID,
		ActorEmail: actor.Email, Event: event, ResourceType: resourceType,
		ResourceID: resourceID, Payload: raw,
	}, nil
}

// AuditFilter selects audit records, newest first.
type AuditFilter struct {
	From         time.Time // inclusive; zero = unbounded
	To           time.Time // exclusive; zero = unbounded
	ResourceType string
	ResourceID   string
	Actor        string // matches actor id or actor email
	Event        string
	BeforeID     int64 // keyset cursor: only ids below this; 0 = from the newest
	// ReadableTypes limits the records to these resource types, those the
	// reader's role may read (AuditReadableTypes); nil means every type.
	ReadableTypes []string
	Limit         int
}

const (
	DefaultAuditLimit = 50
	MaxAuditLimit     = 500
)
