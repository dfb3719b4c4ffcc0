package app

import "strings"

// Role is a user's role. The set is closed: ParseRole refuses anything else.
type Role string

const (
	RoleAdmin    Role = "admin"
	RoleOperator Role = "operator"
	RoleApprover Role = "approver"
	RoleViewer   Role = "viewer"
)

// Roles lists every role, most privileged first.
var Roles = []Role{RoleAdmin, RoleOperator, RoleApprover, RoleViewer}

// ParseRole validates a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", Errorf(EINVALID, "unknown role %q (want one of admin, operator, approver, viewer)", s)
}

// Action is something a user may try to do; every use case asks Can.
type Action string

const (
	ActReadChanges     Action = "changes.read"
	ActReadAssets      Action = "assets.read"
	ActReadAudit       Action = "audit.read"
	ActWriteChanges    Action = "changes.write" // create / edit / submit / cancel
	ActExecuteChanges  Action = "changes.execute"
	ActApproveChanges  Action = "changes.approve"
	ActEmergencyChange Action = "changes.emergency"
	ActManageConnector Action = "connectors.manage"
	ActManageAgents    Action = "agents.manage"
	ActManageUsers     Action = "users.manage"
	ActManageSettings  Action = "settings.manage"
	// ActAcknowledgeDrift closes a drift record after someone looked at it.
	ActAcknowledgeDrift Action = "drift.acknowledge"
	// ActSyncAssets re-reads one asset from its target on demand.
	ActSyncAssets Action = "assets.sync"
)

// permissions is the one table from (role, action) to allowed, exactly as in
// ARCHITECTURE.md. Anything not listed is denied.
var permissions = map[Role]map[Action]bool{
	RoleAdmin: {
		ActReadChanges: true, ActReadAssets: true, ActReadAudit: true,
		ActWriteChanges: true, ActExecuteChanges: true, ActApproveChanges: true,
		ActEmergencyChange: true, ActManageConnector: true, ActManageAgents: true,
		ActManageUsers: true, ActManageSettings: true, ActAcknowledgeDrift: true,
		ActSyncAssets: true,
	},
	RoleOperator: {
		ActReadChanges: true, ActReadAssets: true, ActReadAudit: true,
		ActWriteChanges: true, ActExecuteChanges: true, ActAcknowledgeDrift: true,
		ActSyncAssets: true,
	},
	RoleApprover: {
		ActReadChanges: true, ActReadAssets: true, ActReadAudit: true,
		ActApproveChanges: true, ActAcknowledgeDrift: true,
	},
	RoleViewer: {
		ActReadChanges: true, ActReadAssets: true, ActReadAudit: true,
	},
}

// Can reports whether role may perform action.
func Can(role Role, action Action) bool { return permissions[role][action] }

// actionWords says in plain words what an action lets a user do; refusals
// use it, so no one reads an internal key such as users.manage.
var actionWords = map[Action]string{
	ActReadChanges:      "read change requests",
	ActReadAssets:       "read assets",
	ActReadAudit:        "read the audit log",
	ActWriteChanges:     "create, edit, submit or cancel change requests",
	ActExecuteChanges:   "execute change requests",
	ActApproveChanges:   "approve or reject change requests",
	ActEmergencyChange:  "execute emergency changes",
	ActManageConnector:  "manage connectors",
	ActManageAgents:     "manage agents and enrollment tokens",
	ActManageUsers:      "manage users",
	ActManageSettings:   "manage settings",
	ActAcknowledgeDrift: "acknowledge out-of-band changes",
}

// roleNoun is a role with its article, for sentences: "an admin".
var roleNoun = map[Role]string{
	RoleAdmin: "an admin", RoleOperator: "an operator", RoleApprover: "an approver", RoleViewer: "a viewer",
}

// RoleRefusal is the message for a role refused an action: what the user
// cannot do and which roles can, in words ("your role (viewer) cannot
// manage users; an admin can").
func RoleRefusal(role Role, act Action) string {
	what, ok := actionWords[act]
	if !ok {
		what = "do this"
	}
	who := "you"
	if role != "" {
		who = "your role (" + string(role) + ")"
	}
	var can []string
	for _, r := range Roles {
		if Can(r, act) {
			can = append(can, roleNoun[r])
		}
	}
	switch len(can) {
	case 0:
		return who + " cannot " + what
	case 1:
		return who + " cannot " + what + "; " + can[0] + " can"
	default:
		return who + " cannot " + what + "; " + strings.Join(can[:len(can)-1], ", ") + " or " + can[len(can)-1] + " can"
	}
}
