package ldap

import (
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nexplane/nexplane/app"
)

// Parameter alphabets. They exclude every character with a meaning in DNs
// (, = + ; < > # " \) and filters (* ( ) \ NUL), so injection is refused at
// the door; escaping in directory.go is the second wall.
var (
	uidRE   = regexp.MustCompile(`^[a-z_][a-z0-9._-]{0,63}$`)
	groupRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$`)
)

const maxGroupsPerUser = 100

func validateUID(uid string) error {
	if uid == "" {
		return app.Errorf(app.EINVALID, "uid is required")
	}
	if !uidRE.MatchString(uid) {
		return app.Errorf(app.EINVALID, "uid %q is not allowed: use 1 to 64 of a-z 0-9 . _ -, starting with a letter or _", uid)
	}
	return nil
}

func validateGroup(field, cn string) error {
	if cn == "" {
		return app.Errorf(app.EINVALID, "%s is required", field)
	}
	if !groupRE.MatchString(cn) || strings.HasSuffix(cn, " ") || strings.Contains(cn, "  ") {
		return app.Errorf(app.EINVALID, "%s %q is not allowed: use 1 to 64 of A-Z a-z 0-9 space . _ -, starting with a letter or digit, single spaces, no trailing space", field, cn)
	}
	return nil
}

// validateName checks cn/sn: 1 to 128 printable characters (any script),
// no control characters, no leading or trailing space.
func validateName(field, s string) error {
	switch {
	case s == "":
		return app.Errorf(app.EINVALID, "%s is required", field)
	case !utf8.ValidString(s):
		return app.Errorf(app.EINVALID, "%s is not valid UTF-8", field)
	case utf8.RuneCountInString(s) > 128:
		return app.Errorf(app.EINVALID, "%s is longer than 128 characters", field)
	case strings.TrimSpace(s) != s:
		return app.Errorf(app.EINVALID, "%s must not start or end with spaces", field)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return app.Errorf(app.EINVALID, "%s contains a non-printable character (%U)", field, r)
		}
	}
	return nil
}

// validateMail accepts a bare address (no display name, no angle brackets).
func validateMail(s string) error {
	if s == "" {
		return app.Errorf(app.EINVALID, "mail is required")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > 254 || strings.ContainsAny(s, "<>") {
		return app.Errorf(app.EINVALID, "mail %q is not a plain e-mail address like alice@example.org", s)
	}
	return nil
}
