package aws

import "github.com/nexplane/nexplane/app"

// Register adds the AWS driver and its operation types to r.
func Register(r *app.Registry) {
	r.RegisterDriver(Driver{})
	for _, s := range Operations() {
		r.RegisterOperation(s)
	}
}

// description is what the console's type choice says about this type.
const description = "IAM users, access keys, groups and policies of one AWS account. Needs a region and the access key of an IAM user allowed to manage IAM."

// ConfigSpec describes the AWS config and credentials. The region and the
// endpoint decide where the access key is sent.
func (Driver) ConfigSpec() app.ConfigSpec {
	return app.ConfigSpec{Label: "AWS account", Description: description, Fields: []app.ConfigField{
		{Name: "region", Label: "Region", Type: app.ConfigText, Required: true, Locates: true, Help: "e.g. eu-central-1"},
		{Name: "endpoint_url", Label: "Endpoint URL", Type: app.ConfigText, Locates: true,
			Help: "Optional: a VPC endpoint, an air-gapped partition or an emulator; empty means AWS's public endpoints. https:// (http:// only on this machine)"},
		{Name: "assume_role_arn", Label: "Role to assume", Type: app.ConfigText,
			Help: "Optional: arn:aws:iam::123456789012:role/nexplane"},
		{Name: "rotation_days", Label: "Key rotation (days)", Type: app.ConfigNumber, Default: DefaultRotationDays,
			Help: "1 to 3650; older access keys are reported as a finding"},
		{Name: "unused_days", Label: "Unused key (days)", Type: app.ConfigNumber, Default: DefaultUnusedDays,
			Help: "1 to 3650; keys unused this long are reported as a finding"},
		app.SyncIntervalField(app.DefaultSyncInterval),
		{Name: "access_key_id", Label: "Access key ID", Type: app.ConfigText, Secret: true, Required: true},
		{Name: "secret_access_key", Label: "Secret access key", Type: app.ConfigText, Secret: true, Required: true},
	}}
}

var (
	userField = app.FieldSpec{Name: "user_name", Label: "IAM user name", Kind: app.FieldString, Required: true,
		Help: "1 to 64 of A-Z a-z 0-9 _ + = , . @ -, e.g. alice."}
	keyField = app.FieldSpec{Name: "access_key_id", Label: "Access key ID", Kind: app.FieldString, Required: true,
		Help: "The key's id (AKIA…), never its secret."}
	policyField = app.FieldSpec{Name: "policy_arn", Label: "Managed policy ARN", Kind: app.FieldString, Required: true,
		Help: "e.g. arn:aws:iam::aws:policy/ReadOnlyAccess or arn:aws:iam::123456789012:policy/path/name."}
	groupField = app.FieldSpec{Name: "group_name", Label: "IAM group name", Kind: app.FieldString, Required: true,
		Help: "1 to 128 of A-Z a-z 0-9 _ + = , . @ -, e.g. developers."}
)

// Operations returns the specs of the AWS operation types.
func Operations() []app.OperationSpec {
	return []app.OperationSpec{
		{Type: "aws.iam.access_key.create", ConnectorType: Type,
			Description: "Create an access key for an IAM user; the secret is shown once to the requester. Refused when the user already has 2 keys (AWS's limit).",
			Fields:      []app.FieldSpec{userField}, New: func() app.Operation { return new(KeyCreate) }},
		{Type: "aws.iam.access_key.deactivate", ConnectorType: Type,
			Description: "Deactivate an access key (requests signed with it fail at once; reversible). Nothing happens if it is already inactive.",
			Fields:      []app.FieldSpec{userField, keyField}, New: func() app.Operation { return new(KeyDeactivate) }},
		{Type: "aws.iam.access_key.activate", ConnectorType: Type,
			Description: "Activate an inactive access key again. Nothing happens if it is already active.",
			Fields:      []app.FieldSpec{userField, keyField}, New: func() app.Operation { return new(KeyActivate) }},
		{Type: "aws.iam.access_key.delete", ConnectorType: Type,
			Description: "Delete an access key permanently.",
			Fields:      []app.FieldSpec{userField, keyField}, New: func() app.Operation { return new(KeyDelete) }},
		{Type: "aws.iam.access_key.rotate", ConnectorType: Type,
			Description: "Create a new access key (secret shown once) and deactivate the old one; delete the old key separately once nothing uses it. Refused when the user already has 2 keys.",
			Fields:      []app.FieldSpec{userField, {Name: "access_key_id", Label: "Old access key ID", Kind: app.FieldString, Required: true, Help: "The key to replace (AKIA…)."}},
			New:         func() app.Operation { return new(KeyRotate) }},
		{Type: "aws.iam.user_policy.attach", ConnectorType: Type,
			Description: "Attach a managed policy to an IAM user. Nothing happens if it is already attached.",
			Fields:      []app.FieldSpec{userField, policyField}, New: func() app.Operation { return new(PolicyAttach) }},
		{Type: "aws.iam.user_policy.detach", ConnectorType: Type,
			Description: "Detach a managed policy from an IAM user. Nothing happens if it is not attached.",
			Fields:      []app.FieldSpec{userField, policyField}, New: func() app.Operation { return new(PolicyDetach) }},
		{Type: "aws.iam.user.add_to_group", ConnectorType: Type,
			Description: "Add an IAM user to a group. Nothing happens if it is already a member.",
			Fields:      []app.FieldSpec{userField, groupField}, New: func() app.Operation { return new(GroupAdd) }},
		{Type: "aws.iam.user.remove_from_group", ConnectorType: Type,
			Description: "Remove an IAM user from a group. Nothing happens if it is not a member.",
			Fields:      []app.FieldSpec{userField, groupField}, New: func() app.Operation { return new(GroupRemove) }},
		{Type: "connector.rotate_credentials", ConnectorType: Type,
			Description: "Create a new access key for the connector's own IAM user, check that it authenticates, store it as the connector's credentials, and delete the old key.",
			New:         func() app.Operation { return new(RotateCredentials) }},
	}
}
