package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/nexplane/nexplane/app"
)

const (
	testIssuer   = "https://nexplane.example"
	testAudience = "nexplane-api"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// testKeys are generated once: RSA generation is slow.
var testKeys = sync.OnceValue(func() (k struct {
	rsa, otherRSA *rsa.PrivateKey
	ec            *ecdsa.PrivateKey
	ed            ed25519.PrivateKey
}) {
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.otherRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
})

func newTestTokens(tb testing.TB, clock app.Clock) *Tokens {
	tb.Helper()
	if clock == nil {
		clock = func() time.Time { return testNow }
	}
	tk, err := NewTokens(testKeys().rsa, testIssuer, testAudience, clock)
	if err != nil {
		tb.Fatal(err)
	}
	return tk
}

// seg base64url-encodes v (bytes and strings as is, anything else as JSON).
func seg(v any) string {
	switch v := v.(type) {
	case []byte:
		return base64.RawURLEncoding.EncodeToString(v)
	case string:
		return base64.RawURLEncoding.EncodeToString([]byte(v))
	}
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// craft signs header.payload with method and key (method nil: no signature).
func craft(header, claims any, method jwt.SigningMethod, key any) string {
	input := seg(header) + "." + seg(claims)
	if method == nil {
		return input + "."
	}
	sig, err := method.Sign(input, key)
	if err != nil {
		panic(fmt.Sprintf("sign %s: %v", method.Alg(), err))
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

type m = map[string]any

func goodHeader(tk *Tokens) m { return m{"alg": "RS256", "typ": "JWT", "kid": tk.kid} }

func goodClaims() m {
	iat := testNow.Add(-time.Minute).Unix()
	return m{
		"iss": testIssuer, "aud": testAudience, "sub": "42", "role": "operator", "sv": 3,
		"jti": "0123456789abcdef0123456789abcdef", "iat": iat, "nbf": iat, "exp": iat + 3600,
	}
}

// with returns a copy of base with changes applied; a nil value deletes.
func with(base m, changes m) m {
	out := m{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// ours signs with our key under our kid, changing only the claims.
func ours(tk *Tokens, changes m) string {
	return craft(goodHeader(tk), with(goodClaims(), changes), jwt.SigningMethodRS256, testKeys().rsa)
}

// oursHeader signs good claims with our key, changing only the header.
func oursHeader(tk *Tokens, changes m) string {
	return craft(with(goodHeader(tk), changes), goodClaims(), jwt.SigningMethodRS256, testKeys().rsa)
}

func publicJWK(pub any, kid string) m {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		return m{"kty": "RSA", "kid": kid, "n": seg(p.N.Bytes()), "e": seg(big.NewInt(int64(p.E)).Bytes())}
	case *ecdsa.PublicKey:
		// Uncompressed point: 0x04 | X (32 bytes) | Y (32 bytes).
		b, err := p.Bytes()
		if err != nil {
			panic(err)
		}
		return m{"kty": "EC", "crv": "P-256", "kid": kid, "x": seg(b[1:33]), "y": seg(b[33:65])}
	}
	panic("unsupported key")
}

func TestCraftedControlTokenVerifies(t *testing.T) {
	// Every negative case below changes one thing in this token; it must
	// itself be valid, or the cases would prove nothing.
	tk := newTestTokens(t, nil)
	c, err := tk.Verify(ours(tk, nil))
	if err != nil {
		t.Fatalf("control token rejected: %v", err)
	}
	if c.UserID != 42 || c.Role != app.RoleOperator || c.SessionVersion != 3 {
		t.Fatalf("claims %+v", c)
	}
}

func TestVerifyRejects(t *testing.T) {
	tk := newTestTokens(t, nil)
	k := testKeys()
	pubDER, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	pkcs1PEM := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.rsa.PublicKey)})
	good := ours(tk, nil)
	parts := strings.Split(good, ".")
	otherGood := ours(tk, m{"sub": "7", "role": "admin"})
	otherParts := strings.Split(otherGood, ".")
	kidOf := func(pub *rsa.PublicKey) string { s, _ := KeyID(pub); return s }
	iat := testNow.Add(-time.Minute).Unix()
	now := testNow.Unix()

	otherInstance, err := NewTokens(k.otherRSA, testIssuer, testAudience, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	otherInstanceToken, _, err := otherInstance.Issue(&app.User{ID: 42, Role: app.RoleAdmin, SessionVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	otherIssuer, err := NewTokens(k.rsa, "https://other.example", testAudience, func() time.Time { return testNow })
	if err != nil {
		t.Fatal(err)
	}
	otherIssuerToken, _, _ := otherIssuer.Issue(&app.User{ID: 42, Role: app.RoleAdmin, SessionVersion: 1})
	otherAudience, _ := NewTokens(k.rsa, testIssuer, "other-api", func() time.Time { return testNow })
	otherAudienceToken, _, _ := otherAudience.Issue(&app.User{ID: 42, Role: app.RoleAdmin, SessionVersion: 1})

	noneHdr := func(alg string) m { return m{"alg": alg, "typ": "JWT", "kid": tk.kid} }
	withAlg := func(alg string) string { // our RS256 signature under another alg label
		h := seg(with(goodHeader(tk), m{"alg": alg})) + "." + parts[1]
		sig, _ := jwt.SigningMethodRS256.Sign(h, k.rsa)
		return h + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	flipLastSigChar := func(tok string) string {
		// The last base64 char of a 256-byte signature carries 4 unused
		// bits; set one so the decoded bytes are unchanged but the text differs.
		i := len(tok) - 1
		idx := strings.IndexByte("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", tok[i])
		return tok[:i] + string("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[idx|1])
	}
	big := ours(tk, m{"pad": strings.Repeat("A", MaxTokenSize)})

	tests := []struct {
		name  string
		token string
	}{
		// alg confusion: none in every spelling, with and without a signature.
		{"alg none, empty signature", craft(noneHdr("none"), goodClaims(), nil, nil)},
		{"alg none, with signature", craft(noneHdr("none"), goodClaims(), nil, nil) + parts[2]},
		{"alg None, empty signature", craft(noneHdr("None"), goodClaims(), nil, nil)},
		{"alg None, with signature", craft(noneHdr("None"), goodClaims(), nil, nil) + parts[2]},
		{"alg NONE, empty signature", craft(noneHdr("NONE"), goodClaims(), nil, nil)},
		{"alg NONE, with signature", craft(noneHdr("NONE"), goodClaims(), nil, nil) + parts[2]},
		{"alg nOnE, empty signature", craft(noneHdr("nOnE"), goodClaims(), nil, nil)},
		{"alg nOnE, with signature", craft(noneHdr("nOnE"), goodClaims(), nil, nil) + parts[2]},
		{"alg none via library, no kid", craft(m{"alg": "none", "typ": "JWT"}, goodClaims(), jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType)},
		{"alg empty string", craft(noneHdr(""), goodClaims(), nil, nil) + parts[2]},
		{"alg missing", craft(m{"typ": "JWT", "kid": tk.kid}, goodClaims(), nil, nil) + parts[2]},
		{"alg null", craft(m{"alg": nil, "typ": "JWT", "kid": tk.kid}, goodClaims(), nil, nil) + parts[2]},
		{"alg lower-case rs256", withAlg("rs256")},
		{"alg RS256 with trailing space", withAlg("RS256 ")},
		{"alg as array", withAlg("[\"RS256\"]")},
		// HMAC keyed with our public key.
		{"HS256 keyed with public key PEM", craft(noneHdr("HS256"), goodClaims(), jwt.SigningMethodHS256, pubPEM)},
		{"HS256 keyed with PKCS1 PEM", craft(noneHdr("HS256"), goodClaims(), jwt.SigningMethodHS256, pkcs1PEM)},
		{"HS256 keyed with public key DER", craft(noneHdr("HS256"), goodClaims(), jwt.SigningMethodHS256, pubDER)},
		{"HS384 keyed with public key PEM", craft(noneHdr("HS384"), goodClaims(), jwt.SigningMethodHS384, pubPEM)},
		{"HS384 keyed with public key DER", craft(noneHdr("HS384"), goodClaims(), jwt.SigningMethodHS384, pubDER)},
		{"HS512 keyed with public key PEM", craft(noneHdr("HS512"), goodClaims(), jwt.SigningMethodHS512, pubPEM)},
		{"HS512 keyed with public key DER", craft(noneHdr("HS512"), goodClaims(), jwt.SigningMethodHS512, pubDER)},
		{"HS256 keyed with kid", craft(noneHdr("HS256"), goodClaims(), jwt.SigningMethodHS256, []byte(tk.kid))},
		// Other real algorithms, even with our own key.
		{"RS384 with our key", craft(noneHdr("RS384"), goodClaims(), jwt.SigningMethodRS384, k.rsa)},
		{"RS512 with our key", craft(noneHdr("RS512"), goodClaims(), jwt.SigningMethodRS512, k.rsa)},
		{"PS256 with our key", craft(noneHdr("PS256"), goodClaims(), jwt.SigningMethodPS256, k.rsa)},
		{"PS384 with our key", craft(noneHdr("PS384"), goodClaims(), jwt.SigningMethodPS384, k.rsa)},
		{"ES256 with attacker key", craft(noneHdr("ES256"), goodClaims(), jwt.SigningMethodES256, k.ec)},
		{"EdDSA with attacker key", craft(noneHdr("EdDSA"), goodClaims(), jwt.SigningMethodEdDSA, k.ed)},
		// Time claims.
		{"missing exp", ours(tk, m{"exp": nil})},
		{"expired exp", ours(tk, m{"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600})},
		{"exp just beyond leeway", ours(tk, m{"iat": now - 3631, "nbf": now - 3631, "exp": now - 31})},
		{"exp far past", ours(tk, m{"iat": 0, "nbf": 0, "exp": 3600})},
		{"exp as string", ours(tk, m{"exp": fmt.Sprint(iat + 3600)})},
		{"exp null", ours(tk, m{"exp": json.RawMessage("null")})},
		{"iat as string", ours(tk, m{"iat": fmt.Sprint(iat)})},
		{"nbf as bool", ours(tk, m{"nbf": true})},
		{"future nbf", ours(tk, m{"nbf": now + 300})},
		{"missing nbf", ours(tk, m{"nbf": nil})},
		{"future iat beyond leeway", ours(tk, m{"iat": now + 300, "exp": now + 300 + 3600})},
		{"missing iat", ours(tk, m{"iat": nil})},
		{"lifetime over one hour", ours(tk, m{"exp": iat + 2*3600})},
		{"exp before iat", ours(tk, m{"exp": iat - 1, "iat": iat, "nbf": iat - 10})},
		// Issuer and audience.
		{"wrong iss", ours(tk, m{"iss": "https://evil.example"})},
		{"iss differs in case", ours(tk, m{"iss": strings.ToUpper(testIssuer)})},
		{"missing iss", ours(tk, m{"iss": nil})},
		{"iss as array", ours(tk, m{"iss": []string{testIssuer}})},
		{"wrong aud", ours(tk, m{"aud": "other-api"})},
		{"aud array without ours", ours(tk, m{"aud": []string{"a", "b"}})},
		{"empty aud array", ours(tk, m{"aud": []string{}})},
		{"missing aud", ours(tk, m{"aud": nil})},
		{"token of another issuer, same key", otherIssuerToken},
		{"token for another audience, same key", otherAudienceToken},
		{"token of another instance (other key, same iss and aud)", otherInstanceToken},
		// Subject, role, session version, jti.
		{"missing sub", ours(tk, m{"sub": nil})},
		{"empty sub", ours(tk, m{"sub": ""})},
		{"non-numeric sub", ours(tk, m{"sub": "admin"})},
		{"negative sub", ours(tk, m{"sub": "-42"})},
		{"zero sub", ours(tk, m{"sub": "0"})},
		{"sub with leading zero", ours(tk, m{"sub": "042"})},
		{"sub with plus sign", ours(tk, m{"sub": "+42"})},
		{"sub overflowing int64", ours(tk, m{"sub": "99999999999999999999"})},
		{"sub as JSON number", ours(tk, m{"sub": 42})},
		{"missing role", ours(tk, m{"role": nil})},
		{"unknown role", ours(tk, m{"role": "superadmin"})},
		{"role in other case", ours(tk, m{"role": "Admin"})},
		{"role as number", ours(tk, m{"role": 1})},
		{"missing sv", ours(tk, m{"sv": nil})},
		{"sv as string", ours(tk, m{"sv": "3"})},
		{"sv fractional", ours(tk, m{"sv": 3.5})},
		{"sv negative", ours(tk, m{"sv": -1})},
		{"missing jti", ours(tk, m{"jti": nil})},
		// Key selection: kid.
		{"unknown kid", oursHeader(tk, m{"kid": "AAAAAAAAAAAAAAAAAAAAAA"})},
		{"missing kid", oursHeader(tk, m{"kid": nil})},
		{"empty kid", oursHeader(tk, m{"kid": ""})},
		{"kid as number", oursHeader(tk, m{"kid": 1})},
		{"path-like kid ../../etc/passwd", oursHeader(tk, m{"kid": "../../etc/passwd"})},
		{"path-like kid /dev/null", oursHeader(tk, m{"kid": "/dev/null"})},
		{"kid file URL", oursHeader(tk, m{"kid": "file:///x"})},
		{"kid with NUL", oursHeader(tk, m{"kid": tk.kid + "\x00"})},
		{"kid SQL injection", oursHeader(tk, m{"kid": "' OR '1'='1"})},
		{"kid with trailing space", oursHeader(tk, m{"kid": tk.kid + " "})},
		// Keys named by the token itself.
		{"embedded jwk with attacker key, signed by it", craft(
			m{"alg": "RS256", "typ": "JWT", "kid": kidOf(&k.otherRSA.PublicKey), "jwk": publicJWK(&k.otherRSA.PublicKey, kidOf(&k.otherRSA.PublicKey))},
			goodClaims(), jwt.SigningMethodRS256, k.otherRSA)},
		{"embedded jwk with attacker key under our kid", craft(
			m{"alg": "RS256", "typ": "JWT", "kid": tk.kid, "jwk": publicJWK(&k.otherRSA.PublicKey, tk.kid)},
			goodClaims(), jwt.SigningMethodRS256, k.otherRSA)},
		{"embedded EC jwk, ES256 signed", craft(
			m{"alg": "ES256", "typ": "JWT", "kid": tk.kid, "jwk": publicJWK(&k.ec.PublicKey, tk.kid)},
			goodClaims(), jwt.SigningMethodES256, k.ec)},
		{"jwk header present even with our key and signature", oursHeader(tk, m{"jwk": publicJWK(&k.rsa.PublicKey, tk.kid)})},
		{"jku header", oursHeader(tk, m{"jku": "https://evil.example/jwks.json"})},
		{"x5u header", oursHeader(tk, m{"x5u": "https://evil.example/cert.pem"})},
		{"x5c header", oursHeader(tk, m{"x5c": []string{base64.StdEncoding.EncodeToString(pubDER)}})},
		{"x5t header", oursHeader(tk, m{"x5t": "abc"})},
		{"crit header", oursHeader(tk, m{"crit": []string{"exp"}})},
		{"typ not JWT", oursHeader(tk, m{"typ": "at+jwt"})},
		{"typ JWE-ish", oursHeader(tk, m{"typ": "JOSE+JSON", "enc": "A256GCM"})},
		// Signatures.
		{"signed by another RSA key with our kid", craft(goodHeader(tk), goodClaims(), jwt.SigningMethodRS256, k.otherRSA)},
		{"truncated signature", good[:len(good)-10]},
		{"signature one byte short", parts[0] + "." + parts[1] + "." + seg(mustDecode(t, parts[2])[:255])},
		{"empty signature", parts[0] + "." + parts[1] + "."},
		{"null signature", parts[0] + "." + parts[1] + "." + seg(make([]byte, 256))},
		{"signature of another token", parts[0] + "." + parts[1] + "." + otherParts[2]},
		{"modified payload, original signature", parts[0] + "." + seg(with(goodClaims(), m{"role": "admin"})) + "." + parts[2]},
		{"payload of another token, original signature", parts[0] + "." + otherParts[1] + "." + parts[2]},
		{"modified header, original signature", seg(with(goodHeader(tk), m{"typ": "jwt"})) + "." + parts[1] + "." + parts[2]},
		{"header re-encoded with spaces, original signature", seg(`{"alg": "RS256", "kid": "`+tk.kid+`", "typ": "JWT"}`) + "." + parts[1] + "." + parts[2]},
		{"non-canonical base64 in signature", flipLastSigChar(good)},
		{"padded signature", good + "=="},
		{"standard base64 alphabet", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "+/"},
		// Structure.
		{"empty string", ""},
		{"only dots", ".."},
		{"one part", parts[0]},
		{"two parts", parts[0] + "." + parts[1]},
		{"four parts", good + "." + parts[2]},
		{"five parts (JWE shape)", good + ".AAAA.BBBB"},
		{"garbage base64 header", "!!!." + parts[1] + "." + parts[2]},
		{"garbage base64 payload", parts[0] + ".%%%." + parts[2]},
		{"non-JSON header", seg("not json") + "." + parts[1] + "." + parts[2]},
		{"header JSON array", seg(`["RS256"]`) + "." + parts[1] + "." + parts[2]},
		{"non-JSON payload", craft(goodHeader(tk), "hello", jwt.SigningMethodRS256, k.rsa)},
		{"payload JSON array", craft(goodHeader(tk), []any{goodClaims()}, jwt.SigningMethodRS256, k.rsa)},
		{"oversized token", big},
		{"whitespace-padded", " " + good + " "},
		{"trailing newline", good + "\n"},
		{"newline inside signature", good[:len(good)-5] + "\n" + good[len(good)-5:]},
		{"Bearer prefix left on", "Bearer " + good},
		{"duplicate token", good + good},
	}
	if len(tests) < 60 {
		t.Fatalf("only %d cases", len(tests))
	}
	seen := map[string]string{}
	for _, tt := range tests {
		if prev, dup := seen[tt.token]; dup {
			t.Errorf("cases %q and %q build the same token", prev, tt.name)
		}
		seen[tt.token] = tt.name
		t.Run(tt.name, func(t *testing.T) {
			c, err := tk.Verify(tt.token)
			if err == nil {
				t.Fatalf("accepted, claims %+v", c)
			}
			if c != nil {
				t.Error("claims returned with an error")
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("error %v is not ErrInvalidToken", err)
			}
			if app.ErrCode(err) != app.EUNAUTHORIZED || app.ErrMessage(err) != "invalid or expired token" {
				t.Errorf("code %q message %q", app.ErrCode(err), app.ErrMessage(err))
			}
		})
	}
	t.Logf("%d rejection cases", len(tests))
}

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIssueVerifyRoundTrip(t *testing.T) {
	now := testNow
	tk := newTestTokens(t, func() time.Time { return now })
	u := &app.User{ID: 1234, Email: "a@example.com", Role: app.RoleApprover, SessionVersion: 7}
	tok, exp, err := tk.Issue(u)
	if err != nil {
		t.Fatal(err)
	}
	if !exp.Equal(testNow.Add(time.Hour)) {
		t.Errorf("expiresAt %v, want %v", exp, testNow.Add(time.Hour))
	}
	c, err := tk.Verify(tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.UserID != 1234 || c.Role != app.RoleApprover || c.SessionVersion != 7 {
		t.Errorf("claims %+v", c)
	}
	if got := c.ExpiresAt.Sub(c.IssuedAt); got != 3600*time.Second {
		t.Errorf("exp - iat = %v, want exactly 3600s", got)
	}
	if !c.ExpiresAt.Equal(exp) || !c.IssuedAt.Equal(testNow) {
		t.Errorf("times %v %v", c.IssuedAt, c.ExpiresAt)
	}
	if len(c.ID) != 32 || strings.Trim(c.ID, "0123456789abcdef") != "" {
		t.Errorf("jti %q is not 128-bit hex", c.ID)
	}
	if tok2, _, _ := tk.Issue(u); tok2 == tok {
		t.Error("two tokens identical: jti not random")
	}

	// Wire format: header and claims exactly as documented.
	parts := strings.Split(tok, ".")
	var hdr, claims map[string]any
	_ = json.Unmarshal(mustDecode(t, parts[0]), &hdr)
	_ = json.Unmarshal(mustDecode(t, parts[1]), &claims)
	if hdr["alg"] != "RS256" || hdr["typ"] != "JWT" || hdr["kid"] != tk.kid || len(hdr) != 3 {
		t.Errorf("header %v", hdr)
	}
	want := map[string]any{"iss": testIssuer, "aud": testAudience, "sub": "1234", "role": "approver", "sv": 7.0,
		"iat": float64(testNow.Unix()), "nbf": float64(testNow.Unix()), "exp": float64(testNow.Unix() + 3600)}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %#v, want %#v", k, claims[k], v)
		}
	}
	if len(claims) != len(want)+1 { // + jti
		t.Errorf("unexpected claims: %v", claims)
	}

	// Leeway: 30s either side.
	now = exp.Add(29 * time.Second)
	if _, err := tk.Verify(tok); err != nil {
		t.Errorf("rejected within leeway after exp: %v", err)
	}
	now = exp.Add(31 * time.Second)
	if _, err := tk.Verify(tok); err == nil {
		t.Error("accepted 31s after exp")
	}
	now = testNow.Add(-29 * time.Second)
	if _, err := tk.Verify(tok); err != nil {
		t.Errorf("rejected within leeway before nbf: %v", err)
	}
	now = testNow.Add(-31 * time.Second)
	if _, err := tk.Verify(tok); err == nil {
		t.Error("accepted 31s before nbf")
	}
}

func TestIssueRefusesBadUsers(t *testing.T) {
	tk := newTestTokens(t, nil)
	for _, u := range []*app.User{nil, {ID: 0, Role: app.RoleAdmin}, {ID: -1, Role: app.RoleAdmin}, {ID: 1, Role: "root"}} {
		if _, _, err := tk.Issue(u); err == nil {
			t.Errorf("Issue(%+v) succeeded", u)
		}
	}
}

func TestNewTokensValidates(t *testing.T) {
	k := testKeys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		key      *rsa.PrivateKey
		iss, aud string
	}{
		{"nil key", nil, "i", "a"},
		{"1024-bit key", small, "i", "a"},
		{"no issuer", k.rsa, "", "a"},
		{"no audience", k.rsa, "i", ""},
	}
	for _, c := range cases {
		if _, err := NewTokens(c.key, c.iss, c.aud, nil); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
}

func TestKeyIDAndJWKS(t *testing.T) {
	tk := newTestTokens(t, nil)
	if len(tk.kid) != 22 {
		t.Errorf("kid %q: want 22 base64url chars (16 bytes)", tk.kid)
	}
	other, _ := NewTokens(testKeys().otherRSA, testIssuer, testAudience, nil)
	if other.kid == tk.kid {
		t.Error("two keys share a kid")
	}
	raw, err := tk.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 {
		t.Fatalf("%d keys", len(set.Keys))
	}
	j := set.Keys[0]
	if j["kty"] != "RSA" || j["use"] != "sig" || j["alg"] != "RS256" || j["kid"] != tk.kid || j["e"] != "AQAB" {
		t.Errorf("jwk %v", j)
	}
	if _, has := j["d"]; has || strings.Contains(string(raw), `"p"`) {
		t.Fatal("JWKS leaks private key material")
	}
	n := new(big.Int).SetBytes(mustDecode(t, j["n"]))
	pub := &rsa.PublicKey{N: n, E: 65537}
	if !pub.Equal(&testKeys().rsa.PublicKey) {
		t.Fatal("JWKS key differs from the signing key")
	}
	// A third party using only the JWKS can verify our token.
	tok, _, _ := tk.Issue(&app.User{ID: 1, Role: app.RoleViewer, SessionVersion: 1})
	_, err = jwt.Parse(tok, func(*jwt.Token) (any, error) { return pub, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return testNow }))
	if err != nil {
		t.Fatalf("third-party verify: %v", err)
	}
}

func TestTokensRedaction(t *testing.T) {
	tk := newTestTokens(t, nil)
	for _, s := range []string{fmt.Sprintf("%v", tk), fmt.Sprintf("%+v", tk), fmt.Sprintf("%#v", tk)} {
		if !strings.Contains(s, "[redacted]") || strings.Contains(s, "Primes") {
			t.Errorf("fmt output: %s", s)
		}
	}
}

func FuzzVerify(f *testing.F) {
	tk := newTestTokens(f, nil)
	good, _, err := tk.Issue(&app.User{ID: 1, Role: app.RoleAdmin, SessionVersion: 1})
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(good, ".")
	for _, s := range []string{
		good, "", ".", "..", "...", "a.b.c", parts[0] + "." + parts[1] + ".",
		ours(tk, m{"sub": "x"}), oursHeader(tk, m{"jwk": m{}}),
		craft(m{"alg": "none"}, goodClaims(), nil, nil),
		seg("{") + "." + seg("{") + ".", seg("null") + "." + seg("null") + "." + parts[2],
		seg(`{"alg":"RS256","kid":{"x":1}}`) + "." + parts[1] + "." + parts[2],
		ours(tk, m{"exp": 1e308, "iat": -1e308}),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := tk.Verify(s)
		if err != nil {
			if c != nil || !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v with claims %v", err, c)
			}
			return
		}
		if c == nil || c.UserID <= 0 {
			t.Fatalf("accepted with claims %+v", c)
		}
		if _, err := app.ParseRole(string(c.Role)); err != nil {
			t.Fatalf("accepted role %q", c.Role)
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	tk := newTestTokens(b, nil)
	tok, _, err := tk.Issue(&app.User{ID: 1, Role: app.RoleAdmin, SessionVersion: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIssue(b *testing.B) {
	tk := newTestTokens(b, nil)
	u := &app.User{ID: 1, Role: app.RoleAdmin, SessionVersion: 1}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := tk.Issue(u); err != nil {
			b.Fatal(err)
		}
	}
}
