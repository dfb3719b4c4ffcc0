package app

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// A second factor is something a user proves after their password. TOTP
// (RFC 6238 authenticator apps) is the first kind; passkeys can join as
// another FactorKind with their own verification, without the login flow,
// the policy or the recovery codes knowing which kind answered.

// FactorKind names a kind of second factor.
type FactorKind string

const (
	// FactorTOTP is a time-based one-time password (RFC 6238) app.
	FactorTOTP FactorKind = "totp"
)

// MFAFactor is one second factor of a user. A factor being set up has no
// ConfirmedAt and does not count until its first code is confirmed.
type MFAFactor struct {
	UserID int64
	Kind   FactorKind
	// Sealed is the factor's secret sealed by the Sealer under
	// MFAFactorAD(UserID, Kind); never shown after enrolment.
	Sealed []byte
	// LastStep is the last TOTP time step accepted, so a code works once.
	LastStep    int64
	ConfirmedAt time.Time // zero while pending
	CreatedAt   time.Time
}

// Confirmed reports whether the factor is in use.
func (f MFAFactor) Confirmed() bool { return !f.ConfirmedAt.IsZero() }

// MFAFactorAD is the additional data a factor's secret is sealed under, so a
// sealed secret cannot be moved to another user or kind.
func MFAFactorAD(userID int64, kind FactorKind) string {
	return fmt.Sprintf("mfa:%s:%d", kind, userID)
}

// MFAPolicy is the admin setting mfa_required: who must have a second factor.
type MFAPolicy string

const (
	MFAOff      MFAPolicy = "off"
	MFAAdmins   MFAPolicy = "admins"
	MFAEveryone MFAPolicy = "everyone"
)

// MFAPolicySetting is the settings key of the policy.
const MFAPolicySetting = "mfa_required"

// ParseMFAPolicy validates a policy value.
func ParseMFAPolicy(s string) (MFAPolicy, error) {
	switch p := MFAPolicy(strings.TrimSpace(s)); p {
	case MFAOff, MFAAdmins, MFAEveryone:
		return p, nil
	}
	return "", Errorf(EINVALID, "mfa_required must be off, admins or everyone")
}

// Covers reports whether the policy requires a second factor of role.
func (p MFAPolicy) Covers(role Role) bool {
	switch p {
	case MFAEveryone:
		return true
	case MFAAdmins:
		return role == RoleAdmin
	}
	return false
}

// MFA lifetimes and sizes.
const (
	// MFAChallengeTTL is how long a half-finished login (password right,
	// second factor not yet given) waits for its code.
	MFAChallengeTTL = 5 * time.Minute
	// RecoveryCodeCount codes are issued at enrolment and on regeneration.
	RecoveryCodeCount = 10
	totpPeriod        = 30 // seconds
	totpDigits        = 6
	totpSkew          = 1 // steps either side accepted
)

// MFAChallenge is a login that passed the password step and waits for its
// second factor: the console's half-logged-in state (bound to the browser
// by a cookie) or the API's mfa_token. The store keeps only the token's
// hash; the token works once and until ExpiresAt.
type MFAChallenge struct {
	ID             string // hex SHA-256 of the token
	UserID         int64
	SessionVersion int64
	Console        bool // a console login (else the API)
	CreatedAt      time.Time
	ExpiresAt      time.Time
}

// RecoveryCodeHash is how a recovery code is stored: the SHA-256 of its
// normalised form (the codes carry 80 random bits, so no slow hash is needed).
func RecoveryCodeHash(code string) string {
	sum := sha256.Sum256([]byte(normalizeRecoveryCode(code)))
	return hex.EncodeToString(sum[:])
}

// normalizeRecoveryCode ignores case, spaces and dashes.
func normalizeRecoveryCode(code string) string {
	code = strings.ToLower(code)
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, code)
}

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// newRecoveryCodes makes RecoveryCodeCount random codes, shown as
// xxxx-xxxx-xxxx-xxxx (80 bits each).
func newRecoveryCodes() ([]string, error) {
	codes := make([]string, RecoveryCodeCount)
	for i := range codes {
		var b [10]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("recovery code: %w", err)
		}
		s := strings.ToLower(recoveryEncoding.EncodeToString(b[:]))
		codes[i] = s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
	}
	return codes, nil
}

// looksLikeTOTP reports whether a submitted code is six digits.
func looksLikeTOTP(code string) bool {
	if len(code) != totpDigits {
		return false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
