package app

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"sync"
	"time"
)

// SetupTTL is how long the first-admin setup link stays valid.
const SetupTTL = time.Hour

// SetupGate holds the one-time token of the first-admin setup link. It lives
// in the server's memory only: a restart prints a fresh link.
type SetupGate struct {
	mu      sync.Mutex
	token   string
	expires time.Time
}

// NewSetupGate makes a gate with a fresh random token valid for SetupTTL.
func NewSetupGate(now time.Time) (*SetupGate, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	return &SetupGate{token: base64.RawURLEncoding.EncodeToString(b[:]), expires: now.Add(SetupTTL)}, nil
}

// Token returns the token to print in the setup link.
func (g *SetupGate) Token() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.token
}

// Valid reports whether token opens the gate at now.
func (g *SetupGate) Valid(token string, now time.Time) bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.token != "" && now.Before(g.expires) &&
		subtle.ConstantTimeCompare([]byte(token), []byte(g.token)) == 1
}

// Close makes the gate refuse every token (after the admin was created).
func (g *SetupGate) Close() {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.token = ""
}
