package ops

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// namePattern is the portable subset of what shadow-utils accepts. It
// rules out path tricks ("../x"), option injection ("-o") and upper case.
var namePattern = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// reservedUsers are accounts no operation may touch, whatever their uid on a
// given host. The agent additionally refuses any uid below MinUID at run time.
var reservedUsers = map[string]bool{
	"root": true, "daemon": true, "bin": true, "sys": true, "sync": true,
	"games": true, "man": true, "lp": true, "mail": true, "news": true,
	"uucp": true, "proxy": true, "www-data": true, "backup": true,
	"list": true, "irc": true, "gnats": true, "nobody": true, "nfsnobody": true,
	"sshd": true, "messagebus": true, "syslog": true, "_apt": true,
	"polkitd": true, "adm": true, "operator": true, "halt": true,
	"shutdown": true, "ftp": true, "postfix": true, "ntp": true, "chrony": true,
	"dbus": true, "tss": true,
}

// reservedGroups may not be granted by host.user.create on any host: root
// is gid 0 and shadow holds every password hash. The other root-equivalent
// groups (privileged.go) are left to each host's agent policy.
var reservedGroups = map[string]bool{"root": true, "shadow": true}

// MinUID is the lowest uid the agent mutates; lower ones are system accounts.
const MinUID = 1000

// MaxUID is the highest uid the agent mutates; 65534 and above are
// nobody/nfsnobody and other sentinels.
const MaxUID = 65533

// AllowedShells are the login shells host.user.create may set.
var AllowedShells = []string{
	"/bin/bash", "/bin/sh", "/usr/bin/bash", "/usr/bin/zsh", "/usr/sbin/nologin", "/bin/false",
}

// ValidateUserName checks a name an operation mutates.
func ValidateUserName(name string) error {
	if !namePattern.MatchString(name) {
		return fieldMsg("must be 1-32 characters: a lower-case letter or _ first, then lower-case letters, digits, _ or -", name)
	}
	if reservedUsers[name] || strings.HasPrefix(name, "systemd-") {
		return fieldMsg("is a system account and cannot be changed by Nexplane", name)
	}
	return nil
}

// ValidateGroupName checks a supplementary group name.
func ValidateGroupName(name string) error {
	if !namePattern.MatchString(name) {
		return fieldMsg("must be 1-32 characters: a lower-case letter or _ first, then lower-case letters, digits, _ or -", name)
	}
	if reservedGroups[name] {
		return fieldMsg("grants root-equivalent access and cannot be assigned by Nexplane", name)
	}
	return nil
}

// ValidateShell checks a login shell against AllowedShells.
func ValidateShell(shell string) error {
	if !slices.Contains(AllowedShells, shell) {
		return fieldMsg("is not an allowed shell (allowed: "+strings.Join(AllowedShells, ", ")+")", shell)
	}
	return nil
}

type valueError struct{ value, msg string }

func (e *valueError) Error() string { return quoteShort(e.value) + " " + e.msg }

func fieldMsg(msg, value string) error { return &valueError{value: value, msg: msg} }

// quoteShort quotes a value for an error message, cut so that a huge
// parameter cannot flood logs.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}
