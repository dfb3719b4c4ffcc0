package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/nexplane/nexplane/app"
)

const (
	// TokenLifetime is how long an API token lives: exp = iat + TokenLifetime.
	TokenLifetime = time.Hour
	// MaxTokenSize is the longest token Verify will look at. Ours are well
	// under 1 KiB; the cap bounds the JSON and base64 work an attacker can ask for.
	MaxTokenSize = 8 << 10
	// ClockLeeway absorbs clock skew between servers for exp, nbf and iat.
	ClockLeeway = 30 * time.Second
	// MinRSABits is the smallest signing key accepted.
	MinRSABits = 2048
)

// ErrInvalidToken is the one error clients see for any token that is not
// accepted, whatever the reason, so a probe learns nothing about which check
// failed. Verify wraps it together with the reason (for logs); test with
// errors.Is, or app.ErrCode / app.ErrMessage.
var ErrInvalidToken = app.Errorf(app.EUNAUTHORIZED, "invalid or expired token")

// Claims are the verified contents of an API token.
type Claims struct {
	UserID         int64
	Role           app.Role
	SessionVersion int64
	ID             string // jti: random, 128-bit, hex
	IssuedAt       time.Time
	ExpiresAt      time.Time
}

// allowedHeaders are the only JOSE header parameters Verify accepts. Keys
// come from our own map by kid, never from the token: jwk, jku, x5u, x5c and
// friends would let a token name its own key, and crit would demand
// extensions we do not implement, so any other parameter rejects the token.
var allowedHeaders = map[string]bool{"alg": true, "typ": true, "kid": true}

// Tokens issues and verifies RS256 API tokens.
//
// The key id (kid) is the first 16 bytes of SHA-256 over the public key's
// DER-encoded SubjectPublicKeyInfo, base64url-encoded without padding (22
// characters). It identifies the key for rollover; it is not an RFC 7638
// thumbprint.
type Tokens struct {
	key      *rsa.PrivateKey
	kid      string
	issuer   string
	audience string
	clock    app.Clock
	// verifyKeys maps kid to public key. It holds only our current key today;
	// a rollover would add the previous one here.
	verifyKeys map[string]*rsa.PublicKey
	parser     *jwt.Parser // configured once; safe for concurrent use
}

// NewTokens returns a Tokens that signs with key and accepts only tokens
// whose iss and aud are issuer and audience. clock nil means time.Now.
func NewTokens(key *rsa.PrivateKey, issuer, audience string, clock app.Clock) (*Tokens, error) {
	if key == nil {
		return nil, errors.New("auth: new tokens: signing key is nil")
	}
	if bits := key.N.BitLen(); bits < MinRSABits {
		return nil, fmt.Errorf("auth: new tokens: RSA key has %d bits, want at least %d", bits, MinRSABits)
	}
	if err := key.Validate(); err != nil {
		return nil, fmt.Errorf("auth: new tokens: invalid RSA key: %w", err)
	}
	if issuer == "" || audience == "" {
		return nil, errors.New("auth: new tokens: issuer and audience are required")
	}
	if clock == nil {
		clock = time.Now
	}
	kid, err := KeyID(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("auth: new tokens: %w", err)
	}
	t := &Tokens{
		key: key, kid: kid, issuer: issuer, audience: audience, clock: clock,
		verifyKeys: map[string]*rsa.PublicKey{kid: &key.PublicKey},
	}
	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodRS256.Alg()}),
		jwt.WithTimeFunc(clock),
		jwt.WithLeeway(ClockLeeway),
		jwt.WithExpirationRequired(),
		jwt.WithNotBeforeRequired(),
		jwt.WithIssuedAt(),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		// Refuse non-canonical base64 (stray bits in the last character), so
		// one signature has exactly one encoding.
		jwt.WithStrictDecoding(),
	)
	return t, nil
}

// KeyID returns the kid for pub: base64url(SHA-256(DER SubjectPublicKeyInfo)[:16]).
func KeyID(pub *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:16]), nil
}

// Issue signs a token for u, valid from now for exactly TokenLifetime.
func (t *Tokens) Issue(u *app.User) (token string, expiresAt time.Time, err error) {
	if u == nil || u.ID <= 0 {
		return "", time.Time{}, errors.New("auth: issue token: user without an id")
	}
	if _, err := app.ParseRole(string(u.Role)); err != nil {
		return "", time.Time{}, fmt.Errorf("auth: issue token for user %d: %w", u.ID, err)
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return "", time.Time{}, fmt.Errorf("auth: issue token: read jti: %w", err)
	}
	// Whole seconds, because NumericDate on the wire is seconds; the returned
	// expiry then equals what Verify will read back.
	iat := t.clock().UTC().Truncate(time.Second)
	exp := iat.Add(TokenLifetime)
	// MapClaims rather than RegisteredClaims so aud is a plain string: the
	// library's array-or-string switch is a package-global we must not flip.
	claims := jwt.MapClaims{
		"iss":  t.issuer,
		"aud":  t.audience,
		"sub":  strconv.FormatInt(u.ID, 10),
		"role": string(u.Role),
		"sv":   u.SessionVersion,
		"jti":  hex.EncodeToString(jti[:]),
		"iat":  iat.Unix(),
		"nbf":  iat.Unix(),
		"exp":  exp.Unix(),
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = t.kid // alg and typ ("JWT") are set by the library
	signed, err := tok.SignedString(t.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("auth: issue token for user %d: sign: %w", u.ID, err)
	}
	return signed, exp, nil
}

// wireClaims is what Verify decodes; pointers tell "absent" from zero. It
// implements jwt.Claims itself (rather than embedding RegisteredClaims) so
// the dates can be strict; see strictDate.
type wireClaims struct {
	Issuer    string           `json:"iss"`
	Subject   string           `json:"sub"`
	Audience  jwt.ClaimStrings `json:"aud"`
	ExpiresAt *strictDate      `json:"exp"`
	NotBefore *strictDate      `json:"nbf"`
	IssuedAt  *strictDate      `json:"iat"`
	ID        string           `json:"jti"`
	Role      *string          `json:"role"`
	SV        *int64           `json:"sv"`
}

var _ jwt.Claims = (*wireClaims)(nil)

func (c *wireClaims) GetExpirationTime() (*jwt.NumericDate, error) { return c.ExpiresAt.date(), nil }
func (c *wireClaims) GetNotBefore() (*jwt.NumericDate, error)      { return c.NotBefore.date(), nil }
func (c *wireClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return c.IssuedAt.date(), nil }
func (c *wireClaims) GetIssuer() (string, error)                   { return c.Issuer, nil }
func (c *wireClaims) GetSubject() (string, error)                  { return c.Subject, nil }
func (c *wireClaims) GetAudience() (jwt.ClaimStrings, error)       { return c.Audience, nil }

// strictDate is a NumericDate that must be a JSON number (RFC 7519 §2):
// jwt.NumericDate alone also takes a quoted string such as "1700000000".
type strictDate struct{ jwt.NumericDate }

func (d *strictDate) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || !(b[0] == '-' || b[0] >= '0' && b[0] <= '9') {
		return errors.New("date claim is not a JSON number")
	}
	return d.NumericDate.UnmarshalJSON(b)
}

func (d *strictDate) date() *jwt.NumericDate {
	if d == nil {
		return nil
	}
	return &d.NumericDate
}

// Verify checks a token and returns its claims. It accepts only RS256 under
// a kid we know, with our iss and aud, a positive decimal sub, a known role,
// sv, jti, and iat/nbf/exp consistent with now (±ClockLeeway) and with
// TokenLifetime. Every failure is ErrInvalidToken wrapped with the reason.
func (t *Tokens) Verify(token string) (*Claims, error) {
	c, err := t.verify(token)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return c, nil
}

func (t *Tokens) verify(token string) (*Claims, error) {
	if len(token) > MaxTokenSize {
		return nil, fmt.Errorf("token is %d bytes, over the %d-byte limit", len(token), MaxTokenSize)
	}
	// base64url and the two dots only: Go's base64 decoder skips CR and LF,
	// which would let one signature be spelled many ways.
	for i := 0; i < len(token); i++ {
		if c := token[i]; !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return nil, fmt.Errorf("token has a byte outside base64url at offset %d", i)
		}
	}
	var wc wireClaims
	if _, err := t.parser.ParseWithClaims(token, &wc, t.keyFor); err != nil {
		return nil, err
	}

	sub := wc.Subject
	id, err := strconv.ParseInt(sub, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != sub {
		return nil, errors.New("sub is not a positive decimal user id")
	}
	if wc.Role == nil {
		return nil, errors.New("role claim missing")
	}
	role, err := app.ParseRole(*wc.Role)
	if err != nil {
		return nil, errors.New("role claim is not a known role")
	}
	if wc.SV == nil || *wc.SV < 0 {
		return nil, errors.New("sv claim missing or negative")
	}
	if wc.ID == "" || len(wc.ID) > 64 {
		return nil, errors.New("jti claim missing or too long")
	}
	if wc.IssuedAt == nil {
		return nil, errors.New("iat claim missing")
	}
	iat, exp := wc.IssuedAt.Time, wc.ExpiresAt.Time // exp presence checked by the parser
	if life := exp.Sub(iat); life <= 0 || life > TokenLifetime {
		return nil, fmt.Errorf("lifetime %v outside (0, %v]", life, TokenLifetime)
	}
	return &Claims{
		UserID: id, Role: role, SessionVersion: *wc.SV, ID: wc.ID,
		IssuedAt: iat.UTC(), ExpiresAt: exp.UTC(),
	}, nil
}

// keyFor picks the verification key by kid, after refusing any header
// parameter we do not use. The key always comes from our map.
func (t *Tokens) keyFor(tok *jwt.Token) (any, error) {
	for name := range tok.Header {
		if !allowedHeaders[name] {
			return nil, fmt.Errorf("header parameter %q not accepted", name)
		}
	}
	if typ, present := tok.Header["typ"]; present && typ != "JWT" {
		return nil, errors.New("typ header is not JWT")
	}
	kid, ok := tok.Header["kid"].(string)
	if !ok || kid == "" {
		return nil, errors.New("kid header missing or not a string")
	}
	key, ok := t.verifyKeys[kid]
	if !ok {
		return nil, errors.New("kid unknown")
	}
	// Belt and braces: the parser already limited alg to RS256.
	if tok.Method == nil || tok.Method.Alg() != jwt.SigningMethodRS256.Alg() {
		return nil, errors.New("alg is not RS256")
	}
	return key, nil
}

// jwk is one RFC 7517 public key.
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// JWKS returns the JSON Web Key Set with the public verification key(s),
// for clients that verify our tokens themselves.
func (t *Tokens) JWKS() ([]byte, error) {
	pub := &t.key.PublicKey
	set := struct {
		Keys []jwk `json:"keys"`
	}{Keys: []jwk{{
		Kty: "RSA", Use: "sig", Alg: "RS256", Kid: t.kid,
		N: base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		E: base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("auth: marshal JWKS: %w", err)
	}
	return b, nil
}

// LogValue keeps the private key out of structured logs.
func (t *Tokens) LogValue() slog.Value {
	return slog.GroupValue(slog.String("kid", t.kid), slog.String("issuer", t.issuer), slog.String("key", "[redacted]"))
}

// Format keeps the private key out of fmt output.
func (t *Tokens) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, "auth.Tokens{kid: %s, issuer: %s, key: [redacted]}", t.kid, t.issuer)
}
