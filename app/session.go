package app

import "time"

// Console session lifetimes.
const (
	SessionIdleTimeout     = 30 * time.Minute
	SessionAbsoluteTimeout = 12 * time.Hour
)

// Session is a server-side console session. The browser holds only an
// opaque random token; the store keeps its SHA-256 (ID), so a stolen
// database does not yield live cookies.
type Session struct {
	ID             string // hex SHA-256 of the cookie token
	UserID         int64
	SessionVersion int64  // the user's version at login
	Data           []byte // opaque values the web layer keeps (flashes)
	ClientAddr     string // client address at login
	UserAgent      string // browser's User-Agent at login (truncated)
	CreatedAt      time.Time
	LastSeenAt     time.Time
}

// Expired reports whether the session has passed its idle or absolute limit.
func (s *Session) Expired(now time.Time) bool {
	return now.Sub(s.LastSeenAt) > SessionIdleTimeout || now.Sub(s.CreatedAt) > SessionAbsoluteTimeout
}
