package auth

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/nexplane/nexplane/app"
)

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
