package ldap

import "github.com/nexplane/nexplane/app"

// Register adds the LDAP driver and its operation types to r.
func Register(r *app.Registry) {
	r.RegisterDriver(Driver{})
	for _, s := range Operations() {
		r.RegisterOperation(s)
	}
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
