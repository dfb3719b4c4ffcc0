package app

import (
	"context"
	"encoding/json"
	"time"
)

// Asset is something a connector's sync sees in its target: an IAM user or
// access key, an LDAP account or group. Attributes are non-secret facts;
// a change in them between syncs is a change of the asset.
type Asset struct {
	ID          int64
	ConnectorID int64
	Kind        string // e.g. "aws.iam.access_key", "ldap.user"
	ExternalID  string // stable in the target: an ARN, an access key id, a DN
	Name        string
	Attributes  json.RawMessage
	FirstSeen   time.Time
	LastSeen    time.Time
	GoneAt      time.Time // zero while the target still has it
}

// Observation is one asset as a sync reads it.
type Observation struct {
	Kind       string
	ExternalID string
	Name       string
	Attributes map[string]any // JSON-encodable, non-secret
}

// AssetRef names an asset by its kind and external id.
type AssetRef struct {
	Kind       string `json:"kind"`
	ExternalID string `json:"external_id"`
}

// InventoryConn is a Conn that can list the assets of its target. A sync
// must see everything: a partial list would make assets look gone.
type InventoryConn interface {
	Inventory(ctx context.Context) ([]Observation, error)
}

// AssetReader is a Conn that can read some assets alone, so a targeted sync
// (after a change request, or "sync this asset") re-reads just those
// without listing the whole target.
type AssetReader interface {
	// ReadAssets returns the observation of each asset refs name, exactly
	// as Inventory would report it. A ref names an asset by its external
	// id, or by its name where operations know only that (an IAM user's
	// name, not its ARN). An asset the target no longer holds is left out:
	// absent means gone. An error means nothing could be told.
	ReadAssets(ctx context.Context, refs []AssetRef) ([]Observation, error)
}

// PickObservations is ReadAssets for a driver whose full inventory is
// cheap (read from the control plane's own store): the observations refs
// name, by external id or name.
func PickObservations(all []Observation, refs []AssetRef) []Observation {
	want := make(map[string]bool, len(refs))
	for _, r := range refs {
		want[assetKey(r.Kind, r.ExternalID)] = true
	}
	var out []Observation
	for _, o := range all {
		if want[assetKey(o.Kind, o.ExternalID)] || want[assetKey(o.Kind, o.Name)] {
			out = append(out, o)
		}
	}
	return out
}

// AffectsAssets is implemented by operations that change known assets, so
// a sync can tell changes made through Nexplane from drift.
type AffectsAssets interface {
	Affects() []AssetRef
}

// FindingDraft is a hygiene rule's verdict on one asset before it is stored.
type FindingDraft struct {
	AssetID  int64
	Rule     string // dotted, e.g. "aws.access_key.too_old"
	Severity Severity
	Message  string
	// Remedy pre-fills a change request that fixes it (may be empty).
	RemedyType   string
	RemedyParams json.RawMessage
}

// Severity orders findings.
type Severity string

const (
	SeverityHigh   Severity = "high"
	SeverityMedium Severity = "medium"
	SeverityLow    Severity = "low"
)

// HygieneRules is implemented by connector drivers that judge their assets.
// It sees every present asset of one connector and that connector's config
// (which carries per-connector policy such as rotation_days).
type HygieneRules interface {
	Findings(config json.RawMessage, assets []Asset, now time.Time) []FindingDraft
}

// VolatileAttributes is implemented by drivers whose assets carry attributes
// that change through normal use (a key's last use): a change in them alone
// updates the asset but is neither a change nor drift.
type VolatileAttributes interface {
	Volatile(kind string) []string
}

// Revoker is implemented by connector drivers whose credential assets can be
// revoked: it names the operation that revokes one (ok false when the asset
// is not a revocable credential).
type Revoker interface {
	RevokeOperation(a *Asset) (opType string, params json.RawMessage, ok bool)
}

// Finding is a stored hygiene verdict; it stays open while the rule still
// fires and is resolved when a sync no longer reports it.
type Finding struct {
	ID           int64
	AssetID      int64
	ConnectorID  int64
	Rule         string
	Severity     Severity
	Message      string
	RemedyType   string
	RemedyParams json.RawMessage
	FirstSeen    time.Time
	LastSeen     time.Time
	ResolvedAt   time.Time // zero while open
}

// DriftChange says how an asset changed outside Nexplane.
type DriftChange string

const (
	DriftAppeared    DriftChange = "appeared"
	DriftChanged     DriftChange = "changed"
	DriftDisappeared DriftChange = "disappeared"
)

// Drift is an out-of-band change a sync noticed: no executed change request
// explains it. It shows on the dashboard until acknowledged.
type Drift struct {
	ID             int64
	ConnectorID    int64
	AssetID        int64
	Kind           string
	ExternalID     string
	Name           string
	Change         DriftChange
	Before         json.RawMessage // attributes before ("null" when it appeared)
	After          json.RawMessage // attributes after ("null" when it disappeared)
	DetectedAt     time.Time
	AcknowledgedBy int64 // 0 while open
	AcknowledgedAt time.Time
	AckComment     string
}

// AssetFilter selects assets, newest id first (keyset by id).
type AssetFilter struct {
	ConnectorID int64
	Kind        string
	Text        string // substring of name or external id, case-insensitive
	Finding     string // only assets with an open finding of this rule; FindingAny for any rule
	IncludeGone bool
	BeforeID    int64
	Limit       int
}

// FindingAny in AssetFilter.Finding selects assets with any open finding.
const FindingAny = "any"

// SyncState is a connector's sync bookkeeping.
type SyncState struct {
	ConnectorID  int64
	LastStarted  time.Time
	LastFinished time.Time
	LastError    string
	Assets       int // present assets after the last successful sync
	NextDue      time.Time
}

// FindingFilter selects findings.
type FindingFilter struct {
	AssetID     int64
	ConnectorID int64
	OpenOnly    bool
	Limit       int // 0 = 500
}

// DriftFilter selects drift records, newest first.
type DriftFilter struct {
	ConnectorID int64
	OpenOnly    bool // not yet acknowledged
	BeforeID    int64
	Limit       int // 0 = 50
}
