package app

import (
	"container/list"
	"sync"
	"time"
)

// LoginLimitConfig sets the login rate limits. Zero (or negative) fields take
// the defaults shown.
type LoginLimitConfig struct {
	// PairMaxFailures failures on one account from one client address
	// within PairWindow lock that pair (only) for PairWindow from the last
	// of them. Default 10 / 15 min.
	PairMaxFailures int
	PairWindow      time.Duration
	// AddrMaxFailures failures from one client address within AddrWindow,
	// whatever the accounts, lock that address out for AddrWindow.
	// Default 50 / 15 min.
	AddrMaxFailures int
	AddrWindow      time.Duration
	// AccountHardCap failures on one account within HardCapWindow, from any
	// addresses, put the account under attack: until the window ends only
	// addresses without recent failures are evaluated. Default 100 / 1 h.
	AccountHardCap int
	HardCapWindow  time.Duration
	// MaxEntries bounds each of the three tables (pairs, addresses,
	// accounts); when one is full its least recently active entry is
	// dropped. Default 100,000.
	MaxEntries int
}

// Default login limits.
const (
	DefaultPairMaxFailures   = 10
	DefaultPairWindow        = 15 * time.Minute
	DefaultAddrMaxFailures   = 50
	DefaultAddrWindow        = 15 * time.Minute
	DefaultAccountHardCap    = 100
	DefaultHardCapWindow     = time.Hour
	DefaultLimiterMaxEntries = 100_000
)

// Key lengths the limiter keeps: no valid email is longer than 254 bytes and
// no IP address text longer than 64, so longer input (which can only fail)
// shares a truncated key instead of growing memory.
const (
	maxAccountKey = 254
	maxAddrKey    = 64
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
	setInt(&c.PairMaxFailures, DefaultPairMaxFailures)
	setDur(&c.PairWindow, DefaultPairWindow)
	setInt(&c.AddrMaxFailures, DefaultAddrMaxFailures)
	setDur(&c.AddrWindow, DefaultAddrWindow)
	setInt(&c.AccountHardCap, DefaultAccountHardCap)
	setDur(&c.HardCapWindow, DefaultHardCapWindow)
	setInt(&c.MaxEntries, DefaultLimiterMaxEntries)
	return c
}

// LoginLimiter throttles password guessing, in memory, without letting the
// throttling itself lock users out: it is safe for concurrent use.
//
// Protocol, per login attempt: call Allow once; if it refuses, do not check
// the password; otherwise check it and call Fail or Succeed.
//
// Only failures count, and they count against the client address that made
// them, so nobody elsewhere can use up a user's allowance:
//
//   - per (account, address): PairMaxFailures lock that account for that
//     address only; a success from the address clears its count.
//   - per address: AddrMaxFailures, over any accounts, lock the address.
//   - per account: past AccountHardCap failures an account is under
//     attack, and only addresses with no recent failures are evaluated at
//     all. An attacker gets one guess per fresh address; the user, from an
//     address without failures, always gets in with the right password.
//
// Failures are counted in fixed windows that open at the first failure.
// Concurrent attempts may all pass Allow before the first Fail lands, so a
// burst overshoots a limit by at most its own size; every evaluated guess
// still costs a bcrypt comparison.
//
// An administrator's reset (resetAt, kept in the database so every server
// and the CLI see it) forgets the account's pairs and count whose windows
// or lockouts began at or before it; address limits stay, as they are not
// the account's.
//
// Memory is bounded: keys are truncated, each table holds at most
// MaxEntries, entries whose windows have all ended are pruned on every call
// (cheaply, from the least-recently-active end of a list), and a full table
// drops its least recently active entry.
type LoginLimiter struct {
	cfg LoginLimitConfig

	mu       sync.Mutex
	pairs    *limitTable
	addrs    *limitTable
	accounts *limitTable
}

// NewLoginLimiter returns a limiter with cfg's limits (zero fields default).
func NewLoginLimiter(cfg LoginLimitConfig) *LoginLimiter {
	cfg = cfg.withDefaults()
	return &LoginLimiter{
		cfg:      cfg,
		pairs:    newLimitTable(cfg.MaxEntries, cfg.PairWindow),
		addrs:    newLimitTable(cfg.MaxEntries, cfg.AddrWindow),
		accounts: newLimitTable(cfg.MaxEntries, cfg.HardCapWindow),
	}
}

// limiterKeys truncates account and addr and forms the pair key; an empty
// account or addr skips the dimensions it is part of.
func limiterKeys(account, addr string) (acct, ad, pair string) {
	acct, ad = truncateBytes(account, maxAccountKey), truncateBytes(addr, maxAddrKey)
	if acct != "" && ad != "" {
		pair = acct + "\x00" + ad
	}
	return acct, ad, pair
}

func truncateBytes(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Allow reports whether an attempt on account from addr may be evaluated.
// resetAt is the account's last throttling reset (zero if none). When the
// attempt may not be evaluated, retryAfter says how long until it might
// (always > 0).
func (l *LoginLimiter) Allow(account, addr string, now, resetAt time.Time) (retryAfter time.Duration, ok bool) {
	acct, ad, pair := limiterKeys(account, addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)

	addrDirty := false
	if e := l.addrs.get(ad); e != nil {
		if now.Before(e.lockedUntil) {
			retryAfter = max(retryAfter, e.lockedUntil.Sub(now))
		}
		addrDirty = e.failures.count(now, l.cfg.AddrWindow) > 0
	}
	if e := l.pairs.get(pair); e != nil {
		if e.resetBy(resetAt) {
			l.pairs.remove(e)
		} else if now.Before(e.lockedUntil) {
			retryAfter = max(retryAfter, e.lockedUntil.Sub(now))
		}
	}
	if e := l.accounts.get(acct); e != nil {
		if e.resetBy(resetAt) {
			l.accounts.remove(e)
		} else if addrDirty && e.failures.count(now, l.cfg.HardCapWindow) >= l.cfg.AccountHardCap {
			retryAfter = max(retryAfter, e.failures.end(l.cfg.HardCapWindow).Sub(now))
		}
	}
	return retryAfter, retryAfter <= 0
}

// Fail records a failed attempt (wrong password, unknown or disabled account).
func (l *LoginLimiter) Fail(account, addr string, now time.Time) {
	acct, ad, pair := limiterKeys(account, addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.prune(now)
	if ad != "" {
		l.addrs.touch(ad, now).fail(now, l.cfg.AddrWindow, l.cfg.AddrMaxFailures)
	}
	if pair != "" {
		l.pairs.touch(pair, now).fail(now, l.cfg.PairWindow, l.cfg.PairMaxFailures)
	}
	if acct != "" {
		// No lockout: the count only decides who is evaluated (see Allow).
		l.accounts.touch(acct, now).failures.add(now, l.cfg.HardCapWindow)
	}
}

// Succeed records a successful login: it clears the pair's count, as the
// address has shown it knows the password. It leaves the account's count
// (guesses from elsewhere go on counting) and the address's (a correct
// password for one account says nothing about guesses at others).
func (l *LoginLimiter) Succeed(account, addr string) {
	_, _, pair := limiterKeys(account, addr)
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.pairs.get(pair); e != nil {
		l.pairs.remove(e)
	}
}

func (l *LoginLimiter) prune(now time.Time) {
	l.pairs.prune(now)
	l.addrs.prune(now)
	l.accounts.prune(now)
}

// Len reports how many pairs, addresses and accounts the limiter tracks (for
// tests and metrics).
func (l *LoginLimiter) Len() (pairs, addrs, accounts int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pairs.m), len(l.addrs.m), len(l.accounts.m)
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

// limitEntry is one pair's, address's or account's state.
type limitEntry struct {
	key         string
	elem        *list.Element
	touched     time.Time // last Fail; orders the list
	failures    window
	lockedAt    time.Time
	lockedUntil time.Time
}

// fail counts a failure and starts a lockout when it reaches maxFailures.
func (e *limitEntry) fail(now time.Time, length time.Duration, maxFailures int) {
	if e.failures.add(now, length) >= maxFailures {
		e.lockedAt, e.lockedUntil = now, now.Add(length)
		e.failures = window{}
	}
}

// resetBy reports whether a reset at resetAt wipes the entry: its failure
// window or lockout began at or before the reset. Later ones are new
// guesses and stand.
func (e *limitEntry) resetBy(resetAt time.Time) bool {
	if resetAt.IsZero() {
		return false
	}
	return (e.failures.n > 0 && !e.failures.start.After(resetAt)) ||
		(!e.lockedAt.IsZero() && !e.lockedAt.After(resetAt))
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

// get returns key's entry, or nil (always for the empty key).
func (t *limitTable) get(key string) *limitEntry {
	if key == "" {
		return nil
	}
	return t.m[key]
}

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
