package ldap

import "github.com/nexplane/nexplane/app"

// Register adds the LDAP driver and its operation types to r.
func Register(r *app.Registry) {
	r.RegisterDriver(Driver{})
	for _, s := range Operations() {
		r.RegisterOperation(s)
	}
}

// description is what the console's type choice says about this type.
const description = "Users and groups of an LDAP directory such as OpenLDAP. Needs the server's URL, a service account (bind DN and password) and where users and groups live."

// ConfigSpec describes the LDAP config and credentials. The URL, the bind
// DN and the TLS settings decide who receives the bind password.
func (Driver) ConfigSpec() app.ConfigSpec {
	return app.ConfigSpec{Label: "LDAP directory", Description: description, Fields: []app.ConfigField{
		{Name: "url", Label: "URL", Type: app.ConfigText, Required: true, Locates: true,
			Help: "ldap://host:389 (StartTLS is required) or ldaps://host:636"},
		{Name: "bind_dn", Label: "Bind DN", Type: app.ConfigText, Required: true, Locates: true,
			Help: "The service account the connector binds as, e.g. cn=nexplane,ou=services,dc=example,dc=org"},
		{Name: "base_dn", Label: "Base DN", Type: app.ConfigText, Required: true},
		{Name: "user_base", Label: "User base", Type: app.ConfigText, Required: true, Help: "Where users live, under the base DN"},
		{Name: "group_base", Label: "Group base", Type: app.ConfigText, Required: true, Help: "Where groups live, under the base DN"},
		{Name: "ca_pem", Label: "CA certificates (PEM)", Type: app.ConfigMultiline, Locates: true,
			Help: "The CA that signed the server's certificate; empty means the system roots"},
		{Name: "tls_skip_verify", Label: "Skip TLS certificate verification (discouraged: lets a man in the middle collect the bind password)",
			Type: app.ConfigBool, Locates: true},
		{Name: "insecure_no_tls", Label: "No TLS at all — labs and tests only: the bind password crosses the network in clear text",
			Type: app.ConfigBool, Locates: true, Help: "Accepted only for a directory on this machine (localhost, 127.0.0.0/8, ::1)"},
		{Name: "user_object_classes", Label: "User object classes", Type: app.ConfigList, Default: DefaultUserObjectClasses,
			Help: "Object classes of created users, one per line; must include inetOrgPerson"},
		{Name: "password_max_age_days", Label: "Maximum password age (days)", Type: app.ConfigNumber, Default: DefaultPasswordMaxAgeDays,
			Help: "1 to 3650; older passwords are reported as a finding"},
		{Name: "privileged_groups", Label: "Privileged groups", Type: app.ConfigList, Default: DefaultPrivilegedGroups,
			Help: "Group cns, one per line, whose members must not be locked accounts"},
		app.SyncIntervalField(app.DefaultSyncInterval),
		{Name: "bind_password", Label: "Bind password", Type: app.ConfigText, Secret: true, Required: true},
	}}
}

var (
	uidField = app.FieldSpec{Name: "uid", Label: "User ID (uid)", Kind: app.FieldString, Required: true,
		Help: "Login name: 1 to 64 of a-z 0-9 . _ -, starting with a letter or _."}
	groupField = app.FieldSpec{Name: "group", Label: "Group (cn)", Kind: app.FieldString, Required: true,
		Help: "The group's cn under the connector's group base, e.g. admins."}
)

// Operations returns the specs of the LDAP operation types.
func Operations() []app.OperationSpec {
	return []app.OperationSpec{
		{
			Type: "ldap.user.create", ConnectorType: Type,
			Description: "Create an inetOrgPerson under the user base with a generated password (shown once to the requester) and add it to groups.",
			Fields: []app.FieldSpec{
				uidField,
				{Name: "cn", Label: "Full name (cn)", Kind: app.FieldString, Required: true, Help: "1 to 128 printable characters, e.g. Carol Doe."},
				{Name: "sn", Label: "Surname (sn)", Kind: app.FieldString, Required: true, Help: "1 to 128 printable characters, e.g. Doe."},
				{Name: "mail", Label: "E-mail", Kind: app.FieldString, Required: true, Help: "A plain address, e.g. carol@example.org."},
				{Name: "groups", Label: "Groups", Kind: app.FieldList, Help: "Group cns to add the user to, one per line; each must exist."},
			},
			New: func() app.Operation { return new(UserCreate) },
		},
		{
			Type: "ldap.user.disable", ConnectorType: Type,
			Description: "Lock an account with the ppolicy permanent lock (pwdAccountLockedTime=000001010000Z); binds fail until it is enabled. Needs the ppolicy overlay with pwdLockout TRUE in the applicable policy.",
			Fields:      []app.FieldSpec{uidField},
			New:         func() app.Operation { return new(UserDisable) },
		},
		{
			Type: "ldap.user.enable", ConnectorType: Type,
			Description: "Unlock an account by removing pwdAccountLockedTime; nothing happens if it is active.",
			Fields:      []app.FieldSpec{uidField},
			New:         func() app.Operation { return new(UserEnable) },
		},
		{
			Type: "ldap.user.reset_password", ConnectorType: Type,
			Description: "Set a new generated password (Password Modify extended operation), shown once to the requester.",
			Fields:      []app.FieldSpec{uidField},
			New:         func() app.Operation { return new(UserResetPassword) },
		},
		{
			Type: "ldap.user.delete", ConnectorType: Type,
			Description: "Remove a user from every group under the group base, then delete the entry. Refused if it is the last member of a group.",
			Fields:      []app.FieldSpec{uidField},
			New:         func() app.Operation { return new(UserDelete) },
		},
		{
			Type: "ldap.group.add_member", ConnectorType: Type,
			Description: "Add a user to a groupOfNames; nothing happens if it is already a member.",
			Fields:      []app.FieldSpec{groupField, uidField},
			New:         func() app.Operation { return new(GroupAddMember) },
		},
		{
			Type: "ldap.group.remove_member", ConnectorType: Type,
			Description: "Remove a user from a groupOfNames; nothing happens if it is not a member. Refused if it is the last member.",
			Fields:      []app.FieldSpec{groupField, uidField},
			New:         func() app.Operation { return new(GroupRemoveMember) },
		},
		{
			Type: "connector.rotate_credentials", ConnectorType: Type,
			Description: "Give the connector's bind account a new generated password (Password Modify as itself), prove it with a fresh bind, and store it as the connector's credentials.",
			New:         func() app.Operation { return new(RotateCredentials) },
		},
	}
}
