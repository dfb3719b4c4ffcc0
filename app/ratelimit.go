package app

import (
	"container/list"
	"sync"
	"time"
)

// LoginLimitConfig sets the login rate limits. Zero (or negative) fields take
// the defaults shown.
type LoginLimitConfig struct {
	// AccountMaxFailures failures on one account within AccountWindow lock
	// the account for AccountWindow from the last of them. Default 10 / 15 min.
	AccountMaxFailures int
	AccountWindow      time.Duration
	// AddrMaxFailures failures from one client address within AddrWindow
	// lock that address out for AddrWindow. Default 50 / 15 min.
	AddrMaxFailures int
	AddrWindow      time.Duration
	// AccountHardCap is the most attempts on one account within
	// HardCapWindow that are evaluated at all, however they are spread over
	// addresses and lockouts; successful logins do not count. Default 100 / 1 h.
	AccountHardCap int
	HardCapWindow  time.Duration
	// MaxEntries bounds each of the two tables (accounts, addresses); when one
	// is full the least recently active entry is dropped. Default 100,000.
	MaxEntries int
}

// Default login limits.
const (
	DefaultAccountMaxFailures = 10
	DefaultAccountWindow      = 15 * time.Minute
	DefaultAddrMaxFailures    = 50
	DefaultAddrWindow         = 15 * time.Minute
	DefaultAccountHardCap     = 100
	DefaultHardCapWindow      = time.Hour
	DefaultLimiterMaxEntries  = 100_000
)

func (c LoginLimitConfig) withDefaults() LoginLimitConfig {
	setInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	setDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	setInt(&c.AccountMaxFailures, DefaultAccountMaxFailures)
	setDur(&c.AccountWindow, DefaultAccountWindow)
	setInt(&c.AddrMaxFailures, DefaultAddrMaxFailures)
	setDur(&c.AddrWindow, DefaultAddrWindow)
	setInt(&c.AccountHardCap, DefaultAccountHardCap)
	setDur(&c.HardCapWindow, DefaultHardCapWindow)
	setInt(&c.MaxEntries, DefaultLimiterMaxEntries)
	return c
}

// LoginLimiter throttles password guessing per account and per client
// address, in memory. It is safe for concurrent use.
//
// Protocol, per login attempt: call Allow once; if it refuses, do not check
// the password (and call nothing else); otherwise check it and call Fail or
// Succeed. An attempt that ends in neither (an internal error) still counts
// towards the hard cap, which errs on the side of refusing.
//
// Two kinds of limit apply:
//
//   - Lockouts: failures are counted by Fail in a fixed window that starts at
//     the first failure; the one that reaches the maximum locks the account
//     (or address) for a full window from that moment. Succeed clears the
//     account's count.
//   - The hard cap counts attempts when Allow admits them, not when Fail
//     reports them: concurrent requests can all pass Allow before the first
//     Fail lands, and reserving at Allow keeps the cap exact under such a
//     burst. Succeed gives the reservation back; nothing else does.
//
// Account names should be normalised by the caller (Login lower-cases and
// trims); IPv6 callers may want to pass a /64 prefix as addr. An empty
// account or addr skips that dimension.
//
// Memory is bounded: each table holds at most MaxEntries, entries whose
// windows have all ended are pruned on every call (cheaply, from the
// least-recently-active end of a list), and a full table drops its least
// recently active entry. Flooding the table to evict a locked account needs
// MaxEntries failed attempts, each paying for a bcrypt comparison.
type LoginLimiter struct {
	cfg LoginLimitConfig

	mu       sync.Mutex
	accounts *limitTable
	addrs    *limitTable
}

// NewLoginLimiter returns a limiter with cfg's limits (zero fields default).
func NewLoginLimiter(cfg LoginLimitConfig) *LoginLimiter {
	cfg = cfg.withDefaults()
	return &LoginLimiter{
		cfg:      cfg,
		accounts: newLimitTable(cfg.MaxEntries, max(cfg.AccountWindow, cfg.HardCapWindow)),
		addrs:    newLimitTable(cfg.MaxEntries, cfg.AddrWindow),
	}
}

// Allow reports whether an attempt on account from addr may be evaluated. When
// it may not, retryAfter says how long until it might (always > 0).
func (l *LoginLimiter) Allow(account, addr string, now time.Time) (retryAfter time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accounts.prune(now)
	l.addrs.prune(now)

	if addr != "" {
		if e := l.addrs.get(addr); e != nil && now.Before(e.lockedUntil) {
			retryAfter = max(retryAfter, e.lockedUntil.Sub(now))
		}
	}
	if account != "" {
		if e := l.accounts.get(account); e != nil {
			if now.Before(e.lockedUntil) {
				retryAfter = max(retryAfter, e.lockedUntil.Sub(now))
			}
			if e.attempts.count(now, l.cfg.HardCapWindow) >= l.cfg.AccountHardCap {
				retryAfter = max(retryAfter, e.attempts.end(l.cfg.HardCapWindow).Sub(now))
			}
		}
	}
	if retryAfter > 0 {
		return retryAfter, false
	}
	if account != "" {
		e := l.accounts.touch(account, now)
		e.attempts.add(now, l.cfg.HardCapWindow)
	}
	return 0, true
}

// Fail records a failed attempt (wrong password, unknown or disabled account).
func (l *LoginLimiter) Fail(account, addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.accounts.prune(now)
	l.addrs.prune(now)
	if addr != "" {
		l.addrs.touch(addr, now).fail(now, l.cfg.AddrWindow, l.cfg.AddrMaxFailures)
	}
	if account != "" {
		l.accounts.touch(account, now).fail(now, l.cfg.AccountWindow, l.cfg.AccountMaxFailures)
	}
}

// Succeed records a successful login: it clears the account's failure count
// (not a running lockout, nor the address's count: a correct password for one
// account says nothing about guesses from that address at others) and gives
// back the hard-cap reservation Allow made.
func (l *LoginLimiter) Succeed(account, addr string) {
	if account == "" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.accounts.get(account)
	if e == nil {
		return
	}
	e.failures = window{}
	if e.attempts.n > 0 {
		e.attempts.n--
	}
	if e.attempts.n == 0 && e.lockedUntil.IsZero() {
		l.accounts.remove(e)
	}
}

// window counts events in a fixed window that opens at the first event.
type window struct {
	start time.Time
	n     int
}

func (w *window) end(length time.Duration) time.Time { return w.start.Add(length) }

// count is the number of events in the window still open at now.
func (w *window) count(now time.Time, length time.Duration) int {
	if w.n == 0 || !now.Before(w.end(length)) {
		return 0
	}
	return w.n
}

// add records an event at now, opening a new window if the old one ended.
func (w *window) add(now time.Time, length time.Duration) int {
	if w.count(now, length) == 0 {
		*w = window{start: now}
	}
	w.n++
	return w.n
}

// limitEntry is one account's or address's state.
type limitEntry struct {
	key         string
	elem        *list.Element
	touched     time.Time // last Allow or Fail; orders the list
	failures    window    // counted by Fail, for the lockout
	lockedUntil time.Time
	attempts    window // counted by Allow, for the hard cap (accounts only)
}

// fail counts a failure and starts a lockout when it reaches maxFailures.
func (e *limitEntry) fail(now time.Time, length time.Duration, maxFailures int) {
	if e.failures.add(now, length) >= maxFailures {
		e.lockedUntil = now.Add(length)
		e.failures = window{}
	}
}

// limitTable is a map with a list ordered by last activity, so that both
// expiry and eviction work from the front without scanning.
type limitTable struct {
	max int
	// ttl is the longest window an entry can hold state for: an entry not
	// touched for ttl has nothing left to enforce.
	ttl time.Duration
	m   map[string]*limitEntry
	l   list.List // of *limitEntry, least recently touched first
}

func newLimitTable(maxEntries int, ttl time.Duration) *limitTable {
	return &limitTable{max: maxEntries, ttl: ttl, m: make(map[string]*limitEntry)}
}

func (t *limitTable) get(key string) *limitEntry { return t.m[key] }

// touch returns key's entry, creating it (and evicting the least recently
// touched entry if full), and marks it active at now.
func (t *limitTable) touch(key string, now time.Time) *limitEntry {
	e := t.m[key]
	if e == nil {
		for len(t.m) >= t.max {
			t.remove(t.l.Front().Value.(*limitEntry))
		}
		e = &limitEntry{key: key}
		e.elem = t.l.PushBack(e)
		t.m[key] = e
	} else {
		t.l.MoveToBack(e.elem)
	}
	// Clocks passed by concurrent callers can be slightly out of order; keep
	// the latest so an entry's expiry never moves backwards.
	if now.After(e.touched) {
		e.touched = now
	}
	return e
}

func (t *limitTable) remove(e *limitEntry) {
	t.l.Remove(e.elem)
	delete(t.m, e.key)
}

// prune drops entries untouched for ttl. Every window and lockout starts at a
// touch and lasts at most ttl, so such entries hold nothing; and the list is
// in touch order, so the walk stops at the first live entry.
func (t *limitTable) prune(now time.Time) {
	for f := t.l.Front(); f != nil; f = t.l.Front() {
		e := f.Value.(*limitEntry)
		if now.Before(e.touched.Add(t.ttl)) {
			return
		}
		t.remove(e)
	}
}

// Len reports how many accounts and addresses the limiter tracks (for tests
// and metrics).
func (l *LoginLimiter) Len() (accounts, addrs int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accounts.m), len(l.addrs.m)
}
