package app

import (
	_ "embed"
	"strings"
	"sync"
	"unicode/utf8"
)

// Password length limits, in Unicode code points. Length is what makes a
// password strong, so the minimum is generous and composition rules are not
// imposed (NIST SP 800-63B §3.1.1.2); the maximum only bounds the work done
// per login and is far above any passphrase a person types.
const (
	MinPasswordLen = 12
	MaxPasswordLen = 128
)

// breachedPasswords is a list of common leaked passwords of at least
// MinPasswordLen characters (lower-case, one per line, '#' starts a comment):
// shorter ones are refused by length already.
//
//go:embed breached_passwords.txt
var breachedPasswords string

// breachedSet parses the embedded list once, on first use, into an
// immutable set.
var breachedSet = sync.OnceValue(func() map[string]struct{} {
	set := make(map[string]struct{}, strings.Count(breachedPasswords, "\n")+1)
	for line := range strings.Lines(breachedPasswords) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set[strings.ToLower(line)] = struct{}{}
	}
	return set
})

// IsBreachedPassword reports whether password, compared case-insensitively,
// is on the shipped list of commonly breached passwords.
func IsBreachedPassword(password string) bool {
	_, found := breachedSet()[strings.ToLower(password)]
	return found
}

// ValidatePassword applies the password policy for a user with the given
// email: 12 to 128 characters of valid UTF-8 (any characters, spaces
// included), not the email address, and not on the list of commonly
// breached passwords. Error messages never repeat the password.
func ValidatePassword(password, email string) error {
	if !utf8.ValidString(password) {
		return Errorf(EINVALID, "password must be valid UTF-8 text")
	}
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLen {
		return Errorf(EINVALID, "password must be at least %d characters", MinPasswordLen)
	}
	if n > MaxPasswordLen {
		return Errorf(EINVALID, "password must be at most %d characters", MaxPasswordLen)
	}
	if e := strings.TrimSpace(email); e != "" && strings.EqualFold(strings.TrimSpace(password), e) {
		return Errorf(EINVALID, "password must not be your email address")
	}
	if IsBreachedPassword(password) || IsBreachedPassword(strings.TrimSpace(password)) {
		return Errorf(EINVALID, "password is in a list of commonly breached passwords; choose another")
	}
	return nil
}
