package app

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// step is one call in a limiter scenario. at is the offset from t0.
type step struct {
	op      string // "allow", "fail", "succeed", or "attempt" (allow that must pass, then fail)
	account string
	addr    string
	at      time.Duration
	n       int           // repeat count for "attempt" and "fail" (default 1)
	reset   time.Duration // for "allow": the account's reset at t0+reset (0: none)

	wantOK    bool          // for "allow"
	wantRetry time.Duration // for refused "allow"; 0 means "any > 0"
}

func TestLoginLimiter(t *testing.T) {
	small := LoginLimitConfig{PairMaxFailures: 3, PairWindow: 10 * time.Minute,
		AddrMaxFailures: 5, AddrWindow: 10 * time.Minute, AccountHardCap: 7, HardCapWindow: time.Hour}
	tests := []struct {
		name  string
		cfg   LoginLimitConfig
		steps []step
	}{
		{"fresh account allowed", LoginLimitConfig{}, []step{
			{op: "allow", account: "a", addr: "1.1.1.1", wantOK: true},
		}},
		{"default: 9 failures still allowed", LoginLimitConfig{}, []step{
			{op: "attempt", account: "a", addr: "1.1.1.1", n: 9},
			{op: "allow", account: "a", addr: "1.1.1.1", wantOK: true},
		}},
		{"default: 10th failure locks the account for that address only, 15 min", LoginLimitConfig{}, []step{
			{op: "attempt", account: "a", addr: "1.1.1.1", n: 10, at: time.Minute},
			{op: "allow", account: "a", addr: "1.1.1.1", at: time.Minute, wantRetry: 15 * time.Minute},
			{op: "allow", account: "a", addr: "2.2.2.2", at: time.Minute, wantOK: true},
			{op: "allow", account: "b", addr: "1.1.1.1", at: time.Minute, wantOK: true},
			{op: "allow", account: "a", addr: "1.1.1.1", at: 16*time.Minute - time.Second, wantRetry: time.Second},
			{op: "allow", account: "a", addr: "1.1.1.1", at: 16 * time.Minute, wantOK: true},
		}},
		{"default: 50 failures from one address lock the address", LoginLimitConfig{}, []step{
			{op: "fail", account: "", addr: "9.9.9.9", n: 49},
			{op: "allow", account: "new", addr: "9.9.9.9", wantOK: true},
			{op: "fail", account: "", addr: "9.9.9.9", at: 2 * time.Minute},
			{op: "allow", account: "other", addr: "9.9.9.9", at: 2 * time.Minute, wantRetry: 15 * time.Minute},
			{op: "allow", account: "other", addr: "8.8.8.8", at: 2 * time.Minute, wantOK: true},
			{op: "allow", account: "other", addr: "9.9.9.9", at: 17 * time.Minute, wantOK: true},
		}},
		{"failures elsewhere never refuse a clean address", small, []step{
			// Every limit the other addresses can reach, reached.
			{op: "attempt", account: "a", addr: "x", n: 3},
			{op: "fail", account: "a", addr: "y", n: 5},
			{op: "fail", account: "a", addr: "z", n: 50},
			{op: "allow", account: "a", addr: "x"},
			{op: "allow", account: "a", addr: "y"},
			{op: "allow", account: "a", addr: "clean", wantOK: true},
			{op: "allow", account: "a", addr: "clean", at: 30 * time.Minute, wantOK: true},
		}},
		{"failures spread over windows do not lock", small, []step{
			{op: "attempt", account: "a", addr: "x", n: 2},
			{op: "attempt", account: "a", addr: "x", n: 2, at: 10 * time.Minute},
			{op: "allow", account: "a", addr: "x", at: 10 * time.Minute, wantOK: true},
		}},
		{"success clears the pair count", small, []step{
			{op: "attempt", account: "a", addr: "x", n: 2},
			{op: "allow", account: "a", addr: "x", wantOK: true},
			{op: "succeed", account: "a", addr: "x"},
			{op: "attempt", account: "a", addr: "x", n: 2},
			{op: "allow", account: "a", addr: "x", wantOK: true},
		}},
		{"success does not clear the address count", small, []step{
			{op: "fail", account: "a", addr: "x", n: 2},
			{op: "fail", account: "b", addr: "x", n: 2},
			{op: "allow", account: "c", addr: "x", wantOK: true},
			{op: "succeed", account: "c", addr: "x"},
			{op: "fail", account: "d", addr: "x"},
			{op: "allow", account: "e", addr: "x", wantRetry: 10 * time.Minute},
		}},
		{"successes count for nothing", small, []step{
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a", addr: "1"},
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a", addr: "1"},
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a", addr: "1"},
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a", addr: "1"},
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a", addr: "1"},
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a", addr: "1"},
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a", addr: "1"},
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a", addr: "1"},
			{op: "allow", account: "a", addr: "1", wantOK: true},
		}},
		{"account under attack: addresses with failures are refused, clean ones evaluated", small, []step{
			{op: "attempt", account: "a", addr: "1", n: 2},
			{op: "attempt", account: "a", addr: "2", n: 2, at: 11 * time.Minute},
			{op: "attempt", account: "a", addr: "3", n: 2, at: 22 * time.Minute},
			{op: "attempt", account: "a", addr: "4", n: 1, at: 33 * time.Minute},
			// 7 failures in the hour that started at t0: a guesser with a
			// recent failure waits until t0+1h; a clean address goes on.
			{op: "allow", account: "a", addr: "4", at: 40 * time.Minute, wantRetry: 20 * time.Minute},
			{op: "allow", account: "a", addr: "5", at: 40 * time.Minute, wantOK: true},
			{op: "allow", account: "a", addr: "1", at: 40 * time.Minute, wantOK: true}, // its failures are 40 min old
			{op: "allow", account: "b", addr: "4", at: 40 * time.Minute, wantOK: true},
			{op: "allow", account: "a", addr: "4", at: time.Hour, wantOK: true},
		}},
		{"default hard cap is 100 failures per hour", LoginLimitConfig{PairMaxFailures: 1000, AddrMaxFailures: 1000}, []step{
			{op: "attempt", account: "a", addr: "1", n: 99},
			{op: "allow", account: "a", addr: "1", wantOK: true},
			{op: "fail", account: "a", addr: "1"},
			{op: "allow", account: "a", addr: "1", at: 10 * time.Minute, wantRetry: 50 * time.Minute},
			{op: "allow", account: "a", addr: "2", at: 10 * time.Minute, wantOK: true},
		}},
		{"reset wipes the account's pairs and count from before it", small, []step{
			{op: "attempt", account: "a", addr: "x", n: 3},
			{op: "attempt", account: "a", addr: "y", n: 2},
			{op: "fail", account: "a", addr: "y", n: 5, at: time.Minute},
			{op: "allow", account: "a", addr: "x", at: 2 * time.Minute},
			{op: "allow", account: "a", addr: "x", at: 2 * time.Minute, reset: 2 * time.Minute, wantOK: true},
			// The address lock is the address's, not the account's.
			{op: "allow", account: "a", addr: "y", at: 2 * time.Minute, reset: 2 * time.Minute, wantRetry: 9 * time.Minute},
		}},
		{"failures after a reset stand", small, []step{
			{op: "attempt", account: "a", addr: "x", n: 3, at: 2 * time.Minute},
			{op: "allow", account: "a", addr: "x", at: 2 * time.Minute, reset: time.Minute, wantRetry: 10 * time.Minute},
		}},
		{"an old reset does not wipe a later lockout", small, []step{
			{op: "attempt", account: "a", addr: "x", n: 2},
			{op: "allow", account: "a", addr: "x", at: 5 * time.Minute, reset: 4 * time.Minute, wantOK: true},
			{op: "attempt", account: "a", addr: "x", n: 3, at: 6 * time.Minute},
			{op: "allow", account: "a", addr: "x", at: 6 * time.Minute, reset: 4 * time.Minute, wantRetry: 10 * time.Minute},
		}},
		{"longer of two refusals wins", small, []step{
			{op: "fail", account: "", addr: "x", n: 5, at: 0},
			{op: "fail", account: "a", addr: "x", n: 3, at: 5 * time.Minute},
			{op: "allow", account: "a", addr: "x", at: 6 * time.Minute, wantRetry: 9 * time.Minute},
		}},
		{"empty account and addr skip their limits", small, []step{
			{op: "attempt", account: "", addr: "", n: 20},
			{op: "allow", account: "", addr: "", wantOK: true},
		}},
		{"oversized keys share a truncated entry", small, []step{
			{op: "attempt", account: strings.Repeat("a", 300) + "1", addr: "x", n: 3},
			{op: "allow", account: strings.Repeat("a", 300) + "2", addr: "x", wantRetry: 10 * time.Minute},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLoginLimiter(tt.cfg)
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				var resetAt time.Time
				if s.reset != 0 {
					resetAt = t0.Add(s.reset)
				}
				n := max(s.n, 1)
				switch s.op {
				case "attempt":
					for j := range n {
						if retry, ok := l.Allow(s.account, s.addr, now, time.Time{}); !ok {
							t.Fatalf("step %d attempt %d: refused (retry %v)", i, j, retry)
						}
						l.Fail(s.account, s.addr, now)
					}
				case "fail":
					for range n {
						l.Fail(s.account, s.addr, now)
					}
				case "succeed":
					l.Succeed(s.account, s.addr)
				case "allow":
					retry, ok := l.Allow(s.account, s.addr, now, resetAt)
					if ok != s.wantOK {
						t.Fatalf("step %d: Allow ok = %v (retry %v), want %v", i, ok, retry, s.wantOK)
					}
					switch {
					case ok && retry != 0:
						t.Fatalf("step %d: allowed with retry %v", i, retry)
					case !ok && retry <= 0:
						t.Fatalf("step %d: refused with retry %v", i, retry)
					case !ok && s.wantRetry != 0 && retry != s.wantRetry:
						t.Fatalf("step %d: retry %v, want %v", i, retry, s.wantRetry)
					}
				default:
					t.Fatalf("bad op %q", s.op)
				}
			}
		})
	}
}

func TestLoginLimiterPrunes(t *testing.T) {
	l := NewLoginLimiter(LoginLimitConfig{})
	for i := range 1000 {
		acct, addr := fmt.Sprintf("user%d", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		l.Allow(acct, addr, t0, time.Time{})
		l.Fail(acct, addr, t0)
	}
	if p, a, c := l.Len(); p != 1000 || a != 1000 || c != 1000 {
		t.Fatalf("Len = %d, %d, %d; want 1000 each", p, a, c)
	}
	// Pairs and addresses hold state for 15 minutes, accounts for the 1 h
	// hard cap.
	l.Allow("", "", t0.Add(15*time.Minute), time.Time{})
	if p, a, c := l.Len(); p != 0 || a != 0 || c != 1000 {
		t.Fatalf("after 15 min Len = %d, %d, %d; want 0, 0, 1000", p, a, c)
	}
	l.Allow("", "", t0.Add(time.Hour), time.Time{})
	if p, a, c := l.Len(); p != 0 || a != 0 || c != 0 {
		t.Fatalf("after 1 h Len = %d, %d, %d; want 0, 0, 0", p, a, c)
	}
	// A successful login leaves nothing behind.
	l.Allow("ok", "1.2.3.4", t0, time.Time{})
	l.Succeed("ok", "1.2.3.4")
	if p, a, c := l.Len(); p+a+c != 0 {
		t.Fatalf("successful login left %d, %d, %d entries", p, a, c)
	}
}

func TestLoginLimiterMaxEntries(t *testing.T) {
	l := NewLoginLimiter(LoginLimitConfig{MaxEntries: 100, PairMaxFailures: 2})
	// Lock one pair, then flood with others; the locked one is the least
	// recently active and is evicted first once the table is full.
	l.Fail("victim", "v", t0)
	l.Fail("victim", "v", t0)
	if _, ok := l.Allow("victim", "v", t0, time.Time{}); ok {
		t.Fatal("victim not locked")
	}
	for i := range 500 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		l.Fail(fmt.Sprint("u", i), fmt.Sprint("a", i), now)
		if p, a, c := l.Len(); p > 100 || a > 100 || c > 100 {
			t.Fatalf("tables grew past MaxEntries: %d, %d, %d", p, a, c)
		}
	}
	if p, a, c := l.Len(); p != 100 || a != 100 || c != 100 {
		t.Fatalf("Len = %d, %d, %d; want 100 each", p, a, c)
	}
	// The newest entries survive.
	l.Fail("u499", "a499", t0.Add(time.Second))
	if _, ok := l.Allow("u499", "a499", t0.Add(time.Second), time.Time{}); ok {
		t.Fatal("recent entry was evicted")
	}
}

// TestLoginLimiterConcurrentCorrectLogins: however many concurrent logins
// an address makes, successes never add up to a refusal.
func TestLoginLimiterConcurrentCorrectLogins(t *testing.T) {
	l := NewLoginLimiter(LoginLimitConfig{PairMaxFailures: 2, AddrMaxFailures: 2, AccountHardCap: 2})
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for range 1000 {
		wg.Go(func() {
			if _, ok := l.Allow("target", "10.0.0.1", t0, time.Time{}); !ok {
				mu.Lock()
				refused++
				mu.Unlock()
				return
			}
			l.Succeed("target", "10.0.0.1")
		})
	}
	wg.Wait()
	if refused != 0 {
		t.Fatalf("%d correct logins refused", refused)
	}
}

func BenchmarkLoginLimiterAllow(b *testing.B) {
	l := NewLoginLimiter(LoginLimitConfig{})
	i := 0
	for b.Loop() {
		acct := fmt.Sprint("user", i%5000)
		if _, ok := l.Allow(acct, "10.0.0.1", t0, time.Time{}); ok {
			l.Succeed(acct, "10.0.0.1")
		}
		i++
	}
}
