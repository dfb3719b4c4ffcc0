package app

import (
	"strings"
	"time"
	"unicode/utf8"
)

// Passkeys (WebAuthn credentials: platform passkeys and security keys) are
// the second kind of second factor. A user may register several, each with
// a name of their own; one of them answers the console's second login step
// instead of a TOTP code, or signs in alone, without a password (a
// discoverable credential with user verification). A user with at least one
// passkey counts as enrolled for the mfa_required policy.

// FactorPasskey names passkeys among a user's factors (MFAStatus.Factors).
const FactorPasskey FactorKind = "passkey"

// Passkey is one registered WebAuthn credential. It holds no secret: the
// private key never leaves the authenticator.
type Passkey struct {
	ID              int64
	UserID          int64
	CredentialID    []byte // the authenticator's id of the credential (unique)
	PublicKey       []byte // COSE-encoded public key
	SignCount       uint32 // last signature counter seen
	AAGUID          []byte // authenticator model
	Transports      []string
	AttestationType string
	// Flags are the WebAuthn credential flags at registration (user
	// present/verified, backup eligible/state), as the authenticator data
	// encodes them; backup eligibility may not change later.
	Flags      uint8
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero until first used
}

// PasskeyNameMax bounds a passkey's name (in characters).
const PasskeyNameMax = 64

// ParsePasskeyName trims and validates a passkey's user-chosen name.
func ParsePasskeyName(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", Errorf(EINVALID, "give the passkey a name")
	case !utf8.ValidString(s) || utf8.RuneCountInString(s) > PasskeyNameMax:
		return "", Errorf(EINVALID, "a passkey's name is at most %d characters", PasskeyNameMax)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", Errorf(EINVALID, "a passkey's name cannot contain control characters")
		}
	}
	return s, nil
}

// CeremonyKind says what a WebAuthn ceremony in progress is for.
type CeremonyKind string

const (
	// CeremonyRegister adds a passkey to a logged-in user.
	CeremonyRegister CeremonyKind = "register"
	// CeremonyLogin signs in with a discoverable passkey, no password.
	CeremonyLogin CeremonyKind = "login"
	// CeremonyMFA answers the second login step of a half-finished login.
	CeremonyMFA CeremonyKind = "mfa"
	// CeremonyReauth proves a logged-in user holds one of their passkeys
	// (to remove a passkey).
	CeremonyReauth CeremonyKind = "reauth"
)

// PasskeyCeremonyTTL is how long a started ceremony waits for the browser.
const PasskeyCeremonyTTL = 5 * time.Minute

// PasskeyCeremony is a WebAuthn ceremony in progress: the challenge and what
// the library needs to check the answer, kept on the server. The browser
// holds only a random token (ID is its SHA-256). Binding names what the
// ceremony belongs to: the console session (register, reauth), the
// half-finished login (mfa) or nothing (a passwordless login, bound to the
// browser by the token's cookie alone). It works once and until ExpiresAt.
type PasskeyCeremony struct {
	ID        string
	Kind      CeremonyKind
	UserID    int64 // 0 for a passwordless login
	Binding   string
	Name      string // the name of the passkey being registered
	Data      []byte // the WebAuthn session data (JSON)
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RelyingParty is who passkeys are registered with: the RP ID (a domain,
// never an IP address) and the origin browsers must report. The console
// derives it from NEXPLANE_PUBLIC_URL, or from the request for development.
type RelyingParty struct {
	ID     string // e.g. "nexplane.example.com"
	Origin string // e.g. "https://nexplane.example.com:8443"
}

// EPASSKEYONLY refuses an API login of a user whose only second factor is a
// passkey: passkeys work in the console; the API needs a TOTP app (or an
// API token).
const EPASSKEYONLY ErrorCode = "mfa_passkey_console_only"

// Has reports whether the user has a second factor of kind in use.
func (st MFAStatus) Has(kind FactorKind) bool { return hasFactor(st.Factors, kind) }
