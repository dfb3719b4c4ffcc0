package views

// AuditView is the audit log page; its results part is also an htmx fragment.
type AuditView struct {
	Filter AuditFilterForm
	Rows   []AuditRow
	// NextURL keeps the filters and adds the cursor; empty on the last page.
	NextURL string
	Error   string
	// SIEM is the syslog forwarding status; nil hides the panel.
	SIEM *SIEMPanel
	// ExportURL downloads the export of the filter's time range; empty
	// when app does not allow the reader to export.
	ExportURL string
}

// SIEMPanel is how far audit forwarding to the SIEM has got.
type SIEMPanel struct {
	Target    string
	Delivered string // the id of the last record delivered
	Backlog   string // records not yet delivered
	LastError string // empty when the last attempt succeeded
	UpdatedAt string // empty before the first attempt
}

// AuditFilterForm holds the filter values as entered, so the form shows them.
type AuditFilterForm struct {
	From         string
	To           string
	ResourceType string
	ResourceID   string
	Actor        string
	Event        string
	Limit        string
	// Events and ResourceTypes are the values the selects offer (app's
	// catalogue, the types the reader may read).
	Events        []string
	ResourceTypes []string
	// QuickRanges set "from" to a moment before now, keeping the other
	// filters.
	QuickRanges []AuditQuickRange
}

// AuditQuickRange is one link such as "Last hour".
type AuditQuickRange struct {
	Key    string
	Label  string
	URL    string
	Active bool
}

// AuditRow is one audit record in the table.
type AuditRow struct {
	ID       string
	Time     string
	Actor    string
	Event    string
	Resource string
	// ResourceURL is the resource's console page; empty: shown as text.
	ResourceURL string
	DetailURL   string
}

// AuditDetail is every field of one audit record, formatted for reading.
type AuditDetail struct {
	ID           string
	Time         string
	ActorType    string
	ActorID      string
	ActorEmail   string
	Event        string
	ResourceType string
	ResourceID   string
	Payload      string // pretty-printed JSON
	PrevHash     string
	Hash         string
}
