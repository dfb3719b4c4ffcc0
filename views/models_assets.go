package views

// AssetsView is the asset inventory page; its results part is also an htmx
// fragment.
type AssetsView struct {
	Filter     AssetFilterForm
	Connectors []Option
	Kinds      []Option
	Findings   []Option // "any" and the rules with open findings
	Rows       []AssetRow
	NextURL    string
	Error      string
}

// AssetFilterForm holds the asset filters as entered.
type AssetFilterForm struct {
	Text        string
	IncludeGone bool
}

// AssetRow is one asset in the inventory table.
type AssetRow struct {
	ID        string
	Name      string
	Kind      string
	Connector string
	LastSeen  string
	Gone      bool
	// Findings are the open findings' severities, most severe first.
	Findings  []FindingBadge
	DetailURL string
}

// FindingBadge is one open finding as a pill: its severity and rule.
type FindingBadge struct {
	Severity string
	Rule     string
}

// AssetsResultsFragment is the fragment id of the asset results.
const AssetsResultsFragment = "asset-results"

// AttributeRow is one attribute of an asset, formatted for reading.
type AttributeRow struct {
	Key   string
	Value string
	// Multiline values (JSON, lists of many items) are shown preformatted.
	Multiline bool
}

// FindingRow is one finding.
type FindingRow struct {
	ID        string
	Rule      string
	Severity  string
	Message   string
	Open      bool
	FirstSeen string
	LastSeen  string
	Resolved  string
	AssetName string
	AssetURL  string
	// RemedyURL opens the change request form pre-filled with the fix;
	// empty when there is none or the user may not write change requests.
	RemedyURL string
}

// AssetDetailView is one asset with its findings and, when it is a
// credential the user may revoke, the revoke form.
type AssetDetailView struct {
	ID         string
	URL        string
	Name       string
	Kind       string
	ExternalID string
	Connector  string
	FirstSeen  string
	LastSeen   string
	Gone       string // when it disappeared; empty while present
	Attributes []AttributeRow
	Findings   []FindingRow
	OpenCount  string
	// Revoke is "" (no revoke form), RevokeEmergency or RevokeSubmit.
	Revoke string
	// CanSync offers "Sync this asset" (re-read it from its target).
	CanSync bool
	// KeptReason is the reason typed into a refused revoke.
	KeptReason string
}

// Revoke modes of the asset page.
const (
	RevokeEmergency = "emergency" // an admin: runs at once as an emergency change
	RevokeSubmit    = "submit"    // an operator: submitted for approval
)

// DriftRow is one out-of-band change in a list.
type DriftRow struct {
	ID         string
	AssetName  string
	AssetURL   string
	Kind       string
	Connector  string
	Change     string
	DetectedAt string
	DetailURL  string
}

// DriftAttrRow is one attribute before and after an out-of-band change.
type DriftAttrRow struct {
	Key     string
	Before  string
	After   string
	Changed bool
}

// DriftDetailView is one drift record with its before/after attributes
// side by side and, while open, the acknowledge form.
type DriftDetailView struct {
	ID             string
	URL            string
	AssetName      string
	AssetURL       string
	Kind           string
	ExternalID     string
	Connector      string
	Change         string
	DetectedAt     string
	Rows           []DriftAttrRow
	Acknowledged   bool
	AcknowledgedBy string
	AcknowledgedAt string
	AckComment     string
	CanAcknowledge bool
	// KeptComment is the comment typed into a refused acknowledgement.
	KeptComment string
}
