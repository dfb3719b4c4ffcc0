package ops

import (
	"encoding/json"
	"strings"
)

var nameField = Field{Name: "name", Label: "User name", Kind: KindString, Required: true,
	Help: "Local account, lower case, up to 32 characters; system accounts (uid below 1000, root) are refused."}

// specs is the registry. Adding an operation means adding a struct and a
// line here; an unknown type is refused everywhere.
var specs = []Spec{
	{Type: TypeUserCreate, Description: "Create a local user with a home directory and a locked password.",
		Fields: []Field{nameField,
			{Name: "groups", Label: "Groups", Kind: KindList, Help: "Existing supplementary groups. root and shadow are always refused; other root-equivalent groups (sudo, wheel, admin, adm, docker, lxd, disk, kvm, systemd-journal) are refused by the agent unless the host's policy allows them."},
			{Name: "shell", Label: "Shell", Kind: KindString, Required: true, Help: "One of " + strings.Join(AllowedShells, ", ") + "."},
			{Name: "comment", Label: "Comment", Kind: KindString, Help: "Full name or note (GECOS); no ':'."},
		}, decode: decodeAs[UserCreate]},
	{Type: TypeUserLock, Description: "Lock a local user's password (usermod -L).",
		Fields: []Field{nameField}, decode: decodeAs[UserLock]},
	{Type: TypeUserUnlock, Description: "Unlock a local user's password (usermod -U).",
		Fields: []Field{nameField}, decode: decodeAs[UserUnlock]},
	{Type: TypeUserDelete, Description: "Delete a local user (userdel), optionally with its home directory.",
		Fields: []Field{nameField,
			{Name: "remove_home", Label: "Remove home directory", Kind: KindBool, Help: "Also delete the home directory and mail spool (userdel -r)."},
		}, decode: decodeAs[UserDelete]},
	{Type: TypeSSHKeyAdd, Description: "Add an SSH public key to a user's authorized_keys.",
		Fields: []Field{
			{Name: "user", Label: "User name", Kind: KindString, Required: true, Help: nameField.Help},
			{Name: "public_key", Label: "Public key", Kind: KindString, Required: true,
				Help: "One line \"type base64 [comment]\" without options; ssh-ed25519, ecdsa-sha2-nistp256/384/521, ssh-rsa (2048 bits or more), sk-ssh-ed25519@openssh.com or sk-ecdsa-sha2-nistp256@openssh.com."},
		}, decode: decodeAs[SSHKeyAdd]},
	{Type: TypeSSHKeyRemove, Description: "Remove an SSH key, by fingerprint, from a user's authorized_keys.",
		Fields: []Field{
			{Name: "user", Label: "User name", Kind: KindString, Required: true, Help: nameField.Help},
			{Name: "fingerprint", Label: "Fingerprint", Kind: KindString, Required: true, Help: "SHA256:… as ssh-keygen -l prints it."},
		}, decode: decodeAs[SSHKeyRemove]},
	{Type: TypeFactsRefresh, Description: "Report host facts and inventory now.",
		Fields: []Field{}, decode: decodeAs[FactsRefresh]},
}

// decodeAs decodes into a T and returns it by value, so callers type-switch
// on plain structs (ops.UserLock), not pointers.
func decodeAs[T Op](dec *json.Decoder) (Op, error) {
	var v T
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}
