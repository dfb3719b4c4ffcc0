package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
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
