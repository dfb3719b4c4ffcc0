package app

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
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

// NormalizePassword returns the NFC form of password: the same text typed
// on two systems may arrive composed ("é") or decomposed ("e" + U+0301), and
// must hash alike. Policy checks and hashing both use this form.
func NormalizePassword(password string) string { return norm.NFC.String(password) }

// keyboardRuns are sequences whose runs (forwards or backwards, wrapping
// around at the end) make a password of one gesture: the alphabet, the
// digit row and the letter rows of QWERTY, QWERTZ and AZERTY read in order.
var keyboardRuns = []string{
	"abcdefghijklmnopqrstuvwxyz",
	"1234567890",
	"qwertyuiopasdfghjklzxcvbnm",
	"qwertzuiopasdfghjklyxcvbnm",
	"azertyuiopqsdfghjklmwxcvbn",
}

// isKeyboardRun reports whether the whole of p (lower case) is a run of one
// of keyboardRuns.
func isKeyboardRun(p string) bool {
	rev := []rune(p)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	for _, seq := range keyboardRuns {
		// Enough turns of the sequence to hold any run of p's length.
		cyc := strings.Repeat(seq, len(p)/len(seq)+2)
		if strings.Contains(cyc, p) || strings.Contains(cyc, string(rev)) {
			return true
		}
	}
	return false
}

// ValidatePassword applies the password policy for a user with the given
// email to the password's NFC form: 12 to 128 characters of valid UTF-8
// (any characters, spaces included, but no control characters), not only
// spaces, not one character repeated, not a keyboard or alphabet run, not
// the email address, and not on the list of commonly breached passwords.
// Error messages never repeat the password.
func ValidatePassword(password, email string) error {
	if !utf8.ValidString(password) {
		return Errorf(EINVALID, "password must be valid UTF-8 text")
	}
	password = NormalizePassword(password)
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLen {
		return Errorf(EINVALID, "password must be at least %d characters", MinPasswordLen)
	}
	if n > MaxPasswordLen {
		return Errorf(EINVALID, "password must be at most %d characters", MaxPasswordLen)
	}
	// Control characters cannot be typed alike everywhere (a tab moves
	// focus, a NUL ends C strings), so a password holding one may not be
	// enterable again.
	if strings.ContainsFunc(password, unicode.IsControl) {
		return Errorf(EINVALID, "password must not contain control characters (tabs, line breaks and the like)")
	}
	if strings.TrimFunc(password, unicode.IsSpace) == "" {
		return Errorf(EINVALID, "password must not be only spaces")
	}
	if e := strings.TrimSpace(email); e != "" && strings.EqualFold(strings.TrimSpace(password), e) {
		return Errorf(EINVALID, "password must not be your email address")
	}
	if IsBreachedPassword(password) || IsBreachedPassword(strings.TrimSpace(password)) {
		return Errorf(EINVALID, "password is in a list of commonly breached passwords; choose another")
	}
	first, _ := utf8.DecodeRuneInString(password)
	if strings.Trim(password, string(first)) == "" {
		return Errorf(EINVALID, "password must not be one character repeated")
	}
	if isKeyboardRun(strings.ToLower(password)) {
		return Errorf(EINVALID, "password must not be a keyboard or alphabet run (like qwertyuiop or abcdefgh)")
	}
	return nil
}
