package views

// DashboardCard is one card of change requests.
type DashboardCard struct {
	Key     string
	Title   string
	Rows    []ChangeRow
	Empty   string
	MoreURL string
}

// DashboardView is the landing page.
type DashboardView struct {
	// Checklist is the getting-started list of a new install; empty once
	// every step is done.
	Checklist []ChecklistStep
	Cards     []DashboardCard
	Findings  DashboardFindings
	Drift     DashboardDrift
	Agents    DashboardAgents
	// CanAcknowledge shows the acknowledge links of drift records.
	CanAcknowledge bool
}

// DashboardFindings is the dashboard's hygiene card: open findings by
// severity and the most severe ones.
type DashboardFindings struct {
	High   string
	Medium string
	Low    string
	Total  string
	Rows   []FindingRow
}

// DashboardDrift is the dashboard's card of out-of-band changes nobody has
// acknowledged yet.
type DashboardDrift struct {
	Rows []DriftRow
	// More is set when there are more open records than shown.
	More bool
}

// DashboardAgents is the dashboard's agents card.
type DashboardAgents struct {
	Online  string
	Offline string
	Revoked string
}

// ChecklistStep is one step of the getting-started checklist.
type ChecklistStep struct {
	Key   string
	Label string
	Help  string
	// URL is where to take the step; empty when the reader may not.
	URL  string
	Done bool
}
