package ops

import (
	"fmt"
	"strings"
	"unicode"
)

// Operation type names.
const (
	TypeUserCreate   = "host.user.create"
	TypeUserLock     = "host.user.lock"
	TypeUserUnlock   = "host.user.unlock"
	TypeUserDelete   = "host.user.delete"
	TypeSSHKeyAdd    = "host.ssh_key.add"
	TypeSSHKeyRemove = "host.ssh_key.remove"
	TypeFactsRefresh = "host.facts.refresh"
)

// MaxGroups caps supplementary groups per created user.
const MaxGroups = 32

// MaxCommentLen caps the GECOS comment.
const MaxCommentLen = 255

// UserCreate adds a local account with a home directory (useradd -m).
// The account starts with a locked password: access is by SSH key.
type UserCreate struct {
	Name    string   `json:"name"`
	Groups  []string `json:"groups,omitempty"`
	Shell   string   `json:"shell"`
	Comment string   `json:"comment,omitempty"`
}

func (UserCreate) Type() string { return TypeUserCreate }

func (o UserCreate) Validate() error {
	if err := ValidateUserName(o.Name); err != nil {
		return fieldErr("name", "%v", err)
	}
	if len(o.Groups) > MaxGroups {
		return fieldErr("groups", "at most %d groups", MaxGroups)
	}
	seen := map[string]bool{}
	for _, g := range o.Groups {
		if err := ValidateGroupName(g); err != nil {
			return fieldErr("groups", "%v", err)
		}
		if seen[g] {
			return fieldErr("groups", "%s is listed twice", quoteShort(g))
		}
		seen[g] = true
	}
	if err := ValidateShell(o.Shell); err != nil {
		return fieldErr("shell", "%v", err)
	}
	if err := validateComment(o.Comment); err != nil {
		return fieldErr("comment", "%v", err)
	}
	return nil
}

func (o UserCreate) Summary() string {
	s := fmt.Sprintf("create local user %s with shell %s", o.Name, o.Shell)
	if len(o.Groups) > 0 {
		s += " in groups " + strings.Join(o.Groups, ", ") + privilegedNote(o.PrivilegedGroups(nil))
	}
	return s
}

// validateComment keeps the GECOS field from breaking /etc/passwd: no ':',
// no control characters, no newline.
func validateComment(c string) error {
	if len(c) > MaxCommentLen {
		return fmt.Errorf("longer than %d bytes", MaxCommentLen)
	}
	for _, r := range c {
		if r == ':' || r == unicode.ReplacementChar || unicode.IsControl(r) {
			return fmt.Errorf("must not contain ':' or control characters")
		}
	}
	return nil
}

// UserLock locks an account's password (usermod -L).
type UserLock struct {
	Name string `json:"name"`
}

func (UserLock) Type() string      { return TypeUserLock }
func (o UserLock) Validate() error { return validateNameField("name", o.Name) }
func (o UserLock) Summary() string { return "lock the password of local user " + o.Name }

// UserUnlock unlocks an account's password (usermod -U).
type UserUnlock struct {
	Name string `json:"name"`
}

func (UserUnlock) Type() string      { return TypeUserUnlock }
func (o UserUnlock) Validate() error { return validateNameField("name", o.Name) }
func (o UserUnlock) Summary() string { return "unlock the password of local user " + o.Name }

// UserDelete removes an account (userdel), optionally with its home.
type UserDelete struct {
	Name       string `json:"name"`
	RemoveHome bool   `json:"remove_home,omitempty"`
}

func (UserDelete) Type() string      { return TypeUserDelete }
func (o UserDelete) Validate() error { return validateNameField("name", o.Name) }
func (o UserDelete) Summary() string {
	if o.RemoveHome {
		return "delete local user " + o.Name + " and remove its home directory"
	}
	return "delete local user " + o.Name + " (keep its home directory)"
}

func validateNameField(field, name string) error {
	if err := ValidateUserName(name); err != nil {
		return fieldErr(field, "%v", err)
	}
	return nil
}
