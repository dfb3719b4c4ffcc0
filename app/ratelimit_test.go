package app

import (
	"fmt"
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
	n       int // repeat count for "attempt" and "fail" (default 1)

	wantOK    bool          // for "allow"
	wantRetry time.Duration // for refused "allow"; 0 means "any > 0"
}

func TestLoginLimiter(t *testing.T) {
	small := LoginLimitConfig{AccountMaxFailures: 3, AccountWindow: 10 * time.Minute,
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
		{"default: 10th failure locks the account for 15 min", LoginLimitConfig{}, []step{
			{op: "attempt", account: "a", addr: "1.1.1.1", n: 10, at: time.Minute},
			{op: "allow", account: "a", addr: "1.1.1.1", at: time.Minute, wantRetry: 15 * time.Minute},
			{op: "allow", account: "a", addr: "2.2.2.2", at: time.Minute, wantRetry: 15 * time.Minute},
			{op: "allow", account: "b", addr: "2.2.2.2", at: time.Minute, wantOK: true},
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
		{"failures spread over windows do not lock", small, []step{
			{op: "attempt", account: "a", addr: "x", n: 2},
			{op: "attempt", account: "a", addr: "y", n: 2, at: 10 * time.Minute},
			{op: "allow", account: "a", addr: "z", at: 10 * time.Minute, wantOK: true},
		}},
		{"success clears the account count", small, []step{
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
		{"success does not end a running lockout", small, []step{
			{op: "attempt", account: "a", addr: "x", n: 3},
			{op: "succeed", account: "a", addr: "x"},
			{op: "allow", account: "a", addr: "x", at: time.Minute, wantRetry: 9 * time.Minute},
		}},
		{"hard cap across addresses and lockouts", small, []step{
			{op: "attempt", account: "a", addr: "1", n: 2},
			{op: "attempt", account: "a", addr: "2", n: 2, at: 11 * time.Minute},
			{op: "attempt", account: "a", addr: "3", n: 2, at: 22 * time.Minute},
			{op: "attempt", account: "a", addr: "4", n: 1, at: 33 * time.Minute},
			// 7 attempts in the hour that started at t0: refused until t0+1h.
			{op: "allow", account: "a", addr: "5", at: 40 * time.Minute, wantRetry: 20 * time.Minute},
			{op: "allow", account: "a", addr: "5", at: time.Hour, wantOK: true},
		}},
		{"hard cap counts admitted attempts before Fail lands", small, []step{
			// A burst of 7 concurrent attempts all pass Allow before any Fail.
			{op: "allow", account: "a", addr: "1", wantOK: true},
			{op: "allow", account: "a", addr: "2", wantOK: true},
			{op: "allow", account: "a", addr: "3", wantOK: true},
			{op: "allow", account: "a", addr: "4", wantOK: true},
			{op: "allow", account: "a", addr: "5", wantOK: true},
			{op: "allow", account: "a", addr: "6", wantOK: true},
			{op: "allow", account: "a", addr: "7", wantOK: true},
			{op: "allow", account: "a", addr: "8", wantRetry: time.Hour},
		}},
		{"successes do not count towards the hard cap", small, []step{
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a"},
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a"},
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a"},
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a"},
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a"},
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a"},
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a"},
			{op: "allow", account: "a", addr: "1", wantOK: true}, {op: "succeed", account: "a"},
			{op: "allow", account: "a", addr: "1", wantOK: true},
		}},
		{"default hard cap is 100 per hour", LoginLimitConfig{AccountMaxFailures: 1000, AddrMaxFailures: 1000}, []step{
			{op: "attempt", account: "a", addr: "1", n: 100},
			{op: "allow", account: "a", addr: "2", at: 30 * time.Minute, wantRetry: 30 * time.Minute},
		}},
		{"refused attempts do not extend the cap", LoginLimitConfig{AccountMaxFailures: 100, AccountHardCap: 7}, []step{
			{op: "attempt", account: "a", addr: "1", n: 7, at: 0},
			{op: "allow", account: "a", addr: "1", at: 50 * time.Minute},
			{op: "allow", account: "a", addr: "1", at: 59 * time.Minute},
			{op: "allow", account: "a", addr: "1", at: time.Hour, wantOK: true},
		}},
		{"longer of two refusals wins", small, []step{
			{op: "fail", account: "", addr: "x", n: 5, at: 0},
			{op: "attempt", account: "a", addr: "y", n: 3, at: 5 * time.Minute},
			{op: "allow", account: "a", addr: "x", at: 6 * time.Minute, wantRetry: 9 * time.Minute},
		}},
		{"empty account and addr skip their limits", small, []step{
			{op: "attempt", account: "", addr: "", n: 20},
			{op: "allow", account: "", addr: "", wantOK: true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLoginLimiter(tt.cfg)
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				n := max(s.n, 1)
				switch s.op {
				case "attempt":
					for j := range n {
						if retry, ok := l.Allow(s.account, s.addr, now); !ok {
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
					retry, ok := l.Allow(s.account, s.addr, now)
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
		l.Allow(acct, addr, t0)
		l.Fail(acct, addr, t0)
	}
	if a, b := l.Len(); a != 1000 || b != 1000 {
		t.Fatalf("Len = %d, %d; want 1000, 1000", a, b)
	}
	// Addresses hold state for 15 minutes, accounts for the 1 h hard cap.
	l.Allow("", "", t0.Add(15*time.Minute))
	if a, b := l.Len(); a != 1000 || b != 0 {
		t.Fatalf("after 15 min Len = %d, %d; want 1000, 0", a, b)
	}
	l.Allow("", "", t0.Add(time.Hour))
	if a, b := l.Len(); a != 0 || b != 0 {
		t.Fatalf("after 1 h Len = %d, %d; want 0, 0", a, b)
	}
	// A successful login leaves nothing behind.
	l.Allow("ok", "1.2.3.4", t0)
	l.Succeed("ok", "1.2.3.4")
	if a, _ := l.Len(); a != 0 {
		t.Fatalf("successful login left %d account entries", a)
	}
}

func TestLoginLimiterMaxEntries(t *testing.T) {
	l := NewLoginLimiter(LoginLimitConfig{MaxEntries: 100, AccountMaxFailures: 2})
	// Lock one account, then flood with others; the locked one is the least
	// recently active and is evicted first once the table is full.
	l.Allow("victim", "", t0)
	l.Fail("victim", "", t0)
	l.Allow("victim", "", t0)
	l.Fail("victim", "", t0)
	if _, ok := l.Allow("victim", "", t0); ok {
		t.Fatal("victim not locked")
	}
	for i := range 500 {
		now := t0.Add(time.Duration(i) * time.Millisecond)
		l.Allow(fmt.Sprint("u", i), fmt.Sprint("a", i), now)
		l.Fail(fmt.Sprint("u", i), fmt.Sprint("a", i), now)
		if a, b := l.Len(); a > 100 || b > 100 {
			t.Fatalf("tables grew past MaxEntries: %d, %d", a, b)
		}
	}
	if a, b := l.Len(); a != 100 || b != 100 {
		t.Fatalf("Len = %d, %d; want 100, 100", a, b)
	}
	// The newest entries survive.
	l.Allow("u499", "", t0.Add(time.Second))
	l.Fail("u499", "", t0.Add(time.Second))
	if _, ok := l.Allow("u499", "", t0.Add(time.Second)); ok {
		t.Fatal("recent entry was evicted")
	}
}

func TestLoginLimiterConcurrentBurstRespectsHardCap(t *testing.T) {
	l := NewLoginLimiter(LoginLimitConfig{AccountMaxFailures: 1000, AddrMaxFailures: 1000, AccountHardCap: 100})
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for i := range 1000 {
		wg.Go(func() {
			addr := fmt.Sprint("addr", i%37)
			if _, ok := l.Allow("target", addr, t0); ok {
				mu.Lock()
				admitted++
				mu.Unlock()
				l.Fail("target", addr, t0)
			}
		})
	}
	wg.Wait()
	if admitted != 100 {
		t.Fatalf("%d attempts admitted, want exactly 100", admitted)
	}
}

func BenchmarkLoginLimiterAllow(b *testing.B) {
	l := NewLoginLimiter(LoginLimitConfig{})
	i := 0
	for b.Loop() {
		acct := fmt.Sprint("user", i%5000)
		if _, ok := l.Allow(acct, "10.0.0.1", t0); ok {
			l.Succeed(acct, "10.0.0.1")
		}
		i++
	}
}
