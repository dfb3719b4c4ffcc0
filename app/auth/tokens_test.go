package auth

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/nexplane/nexplane/app"
)

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
