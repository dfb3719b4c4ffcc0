package app

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"math/big"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// API token lifetimes: a token lives DefaultTokenLifetime unless its creator
// asks otherwise, and never longer than MaxTokenLifetime.
const (
	DefaultTokenLifetime = 90 * 24 * time.Hour
	MaxTokenLifetime     = 365 * 24 * time.Hour
	// tokenTouchInterval limits last-used writes to one a minute per token.
	tokenTouchInterval = time.Minute
	maxTokenNameLen    = 100
)

// Token format: TokenPrefix, then 32 random bytes in base62 (always
// tokenSecretLen characters, zero-padded), then the CRC-32 (IEEE) of those
// characters in base62 (tokenChecksumLen characters). The checksum lets a
// secret scanner tell a token from noise without asking the server.
const (
	TokenPrefix      = "nxp_"
	tokenSecretBytes = 32
	tokenSecretLen   = 43 // ceil(256 / log2(62))
	tokenChecksumLen = 6  // ceil(32 / log2(62))
	tokenLen         = len(TokenPrefix) + tokenSecretLen + tokenChecksumLen
	base62Alphabet   = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// UserKind tells people from service accounts.
type UserKind string

const (
	// KindHuman is a person: logs in with a password, may hold tokens.
	KindHuman UserKind = "human"
	// KindService is a service account: no password, never logs in, holds
	// API tokens created for it by an admin.
	KindService UserKind = "service"
)

// APIToken is a personal access token or a service account's token. Only
// the SHA-256 of the secret is stored (Hash); the secret is shown once.
type APIToken struct {
	ID        int64
	UserID    int64
	Name      string
	Role      Role
	Hash      string // hex SHA-256 of the whole token string
	CreatedAt time.Time
	ExpiresAt time.Time
	// LastUsedAt is zero when the token was never used; it is written at
	// most once a minute, with the client's address and user agent.
	LastUsedAt        time.Time
	LastUsedIP        string
	LastUsedUserAgent string
	RevokedAt         time.Time // zero while not revoked
	CreatedBy         int64     // the user id of whoever created it
}

// Status is what the token is at now: "active", "expired" or "revoked".
func (t *APIToken) Status(now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked"
	case !now.Before(t.ExpiresAt):
		return "expired"
	default:
		return "active"
	}
}

// HashToken is the stored form of a token: hex SHA-256 of the string.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// base62 encodes n in exactly width characters (n must fit).
func base62(n *big.Int, width int) string {
	out := make([]byte, width)
	v := new(big.Int).Set(n)
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := width - 1; i >= 0; i-- {
		v.DivMod(v, base, mod)
		out[i] = base62Alphabet[mod.Int64()]
	}
	return string(out)
}

func tokenChecksum(secret string) string {
	return base62(new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(secret)))), tokenChecksumLen)
}

// NewTokenSecret makes a fresh token string.
func NewTokenSecret() (string, error) {
	var b [tokenSecretBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token secret: %w", err)
	}
	secret := base62(new(big.Int).SetBytes(b[:]), tokenSecretLen)
	return TokenPrefix + secret + tokenChecksum(secret), nil
}

// LooksLikeAPIToken reports whether s has the token format and a valid
// checksum. It says nothing about whether the token exists.
func LooksLikeAPIToken(s string) bool {
	if len(s) != tokenLen || !strings.HasPrefix(s, TokenPrefix) {
		return false
	}
	body := s[len(TokenPrefix):]
	for i := 0; i < len(body); i++ {
		if strings.IndexByte(base62Alphabet, body[i]) < 0 {
			return false
		}
	}
	secret := body[:tokenSecretLen]
	return body[tokenSecretLen:] == tokenChecksum(secret)
}

// RoleWithin reports whether role r grants nothing that ceiling does not:
// its permissions are a subset of ceiling's. Admin covers every role,
// operator and approver each cover viewer, and neither covers the other.
func RoleWithin(r, ceiling Role) bool {
	if _, ok := permissions[r]; !ok {
		return false
	}
	for act, ok := range permissions[r] {
		if ok && !permissions[ceiling][act] {
			return false
		}
	}
	return true
}

// serviceAccountName is what a service account may be called: it never
// contains '@', so it cannot collide with a person's email.
var serviceAccountName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// NormalizeServiceAccountName trims, lower-cases and validates a name.
func NormalizeServiceAccountName(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return "", Errorf(EINVALID, "name is required")
	}
	if !serviceAccountName.MatchString(s) {
		return "", Errorf(EINVALID, "name must be 1 to 63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit")
	}
	return s, nil
}

// validTokenName checks a token's display name.
func validTokenName(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", Errorf(EINVALID, "name is required")
	}
	if utf8.RuneCountInString(s) > maxTokenNameLen {
		return "", Errorf(EINVALID, "name is longer than %d characters", maxTokenNameLen)
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "", Errorf(EINVALID, "name contains control characters")
	}
	return s, nil
}

// tokenExpiry decides a new token's expiry: zero means the default; the
// past and more than a year ahead are refused.
func tokenExpiry(now, requested time.Time) (time.Time, error) {
	if requested.IsZero() {
		return now.Add(DefaultTokenLifetime).UTC().Truncate(time.Millisecond), nil
	}
	if !requested.After(now) {
		return time.Time{}, Errorf(EINVALID, "expires_at must be in the future")
	}
	if requested.Sub(now) > MaxTokenLifetime {
		return time.Time{}, Errorf(EINVALID, "expires_at must be at most one year ahead")
	}
	return requested.UTC().Truncate(time.Millisecond), nil
}

// TokenRoles lists the roles a token under ceiling may have, most
// privileged first: the choices of a create form.
func TokenRoles(ceiling Role) []Role {
	var out []Role
	for _, r := range Roles {
		if RoleWithin(r, ceiling) {
			out = append(out, r)
		}
	}
	return out
}
