package views

import "net/url"

// PasskeysView is the account's passkeys page.
type PasskeysView struct {
	Passkeys []PasskeyRow
	// MustEnroll: the policy requires a second factor and the user has
	// none yet; a passkey is one.
	MustEnroll bool
}

// PasskeyRow is one registered passkey.
type PasskeyRow struct {
	ID       string
	Name     string
	Created  string
	LastUsed string // "never" until first used
}

// passkeyFinishURL carries the local path to go to after login.
func passkeyFinishURL(path, next string) string {
	if next == "" {
		return path
	}
	return path + "?next=" + url.QueryEscape(next)
}
