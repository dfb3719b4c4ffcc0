package app_test

import (
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// TestRoleRefusal: a refused role reads what it cannot do and who can, in
// words; no internal action key (users.manage) ever shows.
func TestRoleRefusal(t *testing.T) {
	tests := []struct {
		role app.Role
		act  app.Action
		want string
	}{
		{app.RoleOperator, app.ActManageUsers, "your role (operator) cannot manage users; an admin can"},
		{app.RoleViewer, app.ActExecuteChanges, "your role (viewer) cannot execute change requests; an admin or an operator can"},
		{app.RoleOperator, app.ActApproveChanges, "your role (operator) cannot approve or reject change requests; an admin or an approver can"},
		{"", app.ActManageAgents, "you cannot manage agents and enrollment tokens; an admin can"},
		{app.RoleViewer, app.ActAcknowledgeDrift, "your role (viewer) cannot acknowledge out-of-band changes; an admin, an operator or an approver can"},
	}
	for _, tc := range tests {
		if got := app.RoleRefusal(tc.role, tc.act); got != tc.want {
			t.Errorf("RoleRefusal(%q, %s) = %q, want %q", tc.role, tc.act, got, tc.want)
		}
	}
	// Every action is worded: no refusal names its key.
	acts := []app.Action{app.ActReadChanges, app.ActReadAssets, app.ActReadAudit, app.ActWriteChanges, app.ActExecuteChanges,
		app.ActApproveChanges, app.ActEmergencyChange, app.ActManageConnector, app.ActManageAgents, app.ActManageUsers,
		app.ActManageSettings, app.ActAcknowledgeDrift}
	for _, act := range acts {
		if got := app.RoleRefusal(app.RoleViewer, act); strings.Contains(got, string(act)) || strings.Contains(got, "do this") {
			t.Errorf("refusal of %s is not in words: %q", act, got)
		}
	}
}
