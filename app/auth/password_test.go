package auth

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/nexplane/nexplane/app"
)

func testHasher(t *testing.T, concurrency int) *Hasher {
	t.Helper()
	return NewHasher(bcrypt.MinCost, concurrency)
}

func TestHasherRoundTrip(t *testing.T) {
	h := testHasher(t, 2)
	ctx := context.Background()
	tests := []struct {
		name, password, wrong string
	}{
		{"ascii", "correct horse battery staple", "correct horse battery stapl"},
		{"unicode", "pässwörd-日本語-パスワード-🔐", "passwörd-日本語-パスワード-🔐"},
		{"other accents differ", "caf\u00e9-caf\u00e9-caf\u00e9", "caf\u00e8-caf\u00e8-caf\u00e8"},
		{"NUL inside", "abc\x00defghijklmnop", "abc"},
		{"case matters", "CaseSensitivePassword", "casesensitivepassword"},
		{"trailing space matters", "trailing-space-pass ", "trailing-space-pass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hash, err := h.Hash(ctx, tt.password)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(hash), tt.password) {
				t.Fatal("hash contains the password")
			}
			if err := h.Compare(ctx, hash, tt.password); err != nil {
				t.Fatalf("Compare(right) = %v", err)
			}
			if err := h.Compare(ctx, hash, tt.wrong); err != app.ErrPasswordMismatch {
				t.Fatalf("Compare(wrong) = %v, want app.ErrPasswordMismatch", err)
			}
		})
	}
}

// The same text composed (NFC) or decomposed (NFD) is the same password;
// a hash made before passwords were normalised, from the decomposed bytes
// as typed, still verifies with them.
func TestHasherNormalisesUnicode(t *testing.T) {
	h := testHasher(t, 2)
	ctx := context.Background()
	const composed, decomposed = "caf\u00e9-caf\u00e9-caf\u00e9", "cafe\u0301-cafe\u0301-cafe\u0301"
	for _, typed := range []string{composed, decomposed} {
		hash, err := h.Hash(ctx, typed)
		if err != nil {
			t.Fatal(err)
		}
		for _, again := range []string{composed, decomposed} {
			if err := h.Compare(ctx, hash, again); err != nil {
				t.Errorf("hash of %+q: Compare(%+q) = %v, want a match", typed, again, err)
			}
		}
	}
	legacy, err := bcrypt.GenerateFromPassword(preHash(decomposed), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Compare(ctx, legacy, decomposed); err != nil {
		t.Errorf("legacy hash of the raw form: Compare(same bytes) = %v, want a match", err)
	}
	if err := h.Compare(ctx, legacy, "cafe-cafe-cafe"); err != app.ErrPasswordMismatch {
		t.Errorf("legacy hash: Compare(wrong) = %v, want a mismatch", err)
	}
}

// bcrypt alone ignores everything after byte 72; the pre-hash must not.
func TestHasherBeyond72Bytes(t *testing.T) {
	h := testHasher(t, 2)
	ctx := context.Background()
	prefix := strings.Repeat("a", 72)
	a, b := prefix+"-first", prefix+"-second"

	// Guard: confirm the premise, that raw bcrypt would confuse them.
	raw, err := bcrypt.GenerateFromPassword([]byte(prefix), bcrypt.MinCost)
	if err == nil { // newer x/crypto refuses >72 bytes; only check when it accepts
		if bcrypt.CompareHashAndPassword(raw, []byte(prefix)) != nil {
			t.Fatal("bcrypt sanity check failed")
		}
	}

	hash, err := h.Hash(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Compare(ctx, hash, a); err != nil {
		t.Fatalf("Compare(a) = %v", err)
	}
	if err := h.Compare(ctx, hash, b); err != app.ErrPasswordMismatch {
		t.Fatalf("password differing after byte 72 matched: %v", err)
	}
	if err := h.Compare(ctx, hash, prefix); err != app.ErrPasswordMismatch {
		t.Fatalf("72-byte prefix matched: %v", err)
	}
	// 128 four-byte runes (512 bytes), the longest the policy allows.
	long := strings.Repeat("🔐", 128)
	hash, err = h.Hash(ctx, long)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Compare(ctx, hash, long); err != nil {
		t.Fatal(err)
	}
	if err := h.Compare(ctx, hash, long[:len(long)-4]+"🔑"); err != app.ErrPasswordMismatch {
		t.Fatalf("last rune ignored: %v", err)
	}
}

func TestPreHashShape(t *testing.T) {
	for _, pw := range []string{"", "x", strings.Repeat("z", 1000)} {
		p := preHash(pw)
		if len(p) != 44 {
			t.Errorf("pre-hash length %d, want 44", len(p))
		}
		if strings.IndexByte(string(p), 0) >= 0 {
			t.Error("pre-hash contains NUL")
		}
	}
}

func TestHasherCancelWhileWaiting(t *testing.T) {
	h := testHasher(t, 1)
	h.queue <- struct{}{} // occupy the only slot, as a running hash does
	h.sem <- struct{}{}
	defer h.release()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := h.Hash(ctx, "some long password")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Hash = %v, want context.DeadlineExceeded", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("Hash did not give up promptly")
	}

	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := h.Compare(ctx2, h.DummyHash(), "x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Compare = %v, want context.Canceled", err)
	}
	if err := h.Compare(ctx2, h.DummyHash(), "x"); errors.Is(err, app.ErrPasswordMismatch) {
		t.Fatal("a cancelled compare must not look like a wrong password")
	}
}

func TestHasherCancelledCallerDoesNotTakeFreeSlot(t *testing.T) {
	h := testHasher(t, 4)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 100 {
		if _, err := h.Hash(ctx, "pw"); !errors.Is(err, context.Canceled) {
			t.Fatalf("Hash with cancelled ctx = %v", err)
		}
	}
}

func TestHasherBoundsConcurrency(t *testing.T) {
	h := testHasher(t, 2)
	ctx := context.Background()
	hash, _ := h.Hash(ctx, "password-for-concurrency")
	done := make(chan error)
	for range 16 {
		go func() { done <- h.Compare(ctx, hash, "password-for-concurrency") }()
	}
	for range 16 {
		if len(h.sem) > cap(h.sem) {
			t.Fatal("more hashes than slots")
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if len(h.sem) != 0 {
		t.Fatalf("%d slots leaked", len(h.sem))
	}
}

func TestDummyHash(t *testing.T) {
	h := testHasher(t, 1)
	d := h.DummyHash()
	if _, err := bcrypt.Cost(d); err != nil {
		t.Fatalf("dummy hash is not a bcrypt hash: %v", err)
	}
	for _, pw := range []string{"", "password", "nexplane"} {
		if err := h.Compare(context.Background(), d, pw); err != app.ErrPasswordMismatch {
			t.Errorf("dummy hash matched %q: %v", pw, err)
		}
	}
	d[0] = 'X'
	if h.DummyHash()[0] == 'X' {
		t.Error("DummyHash exposes internal storage")
	}
	if string(NewHasher(bcrypt.MinCost, 1).DummyHash()) == string(h.DummyHash()) {
		t.Error("two hashers share a dummy hash")
	}
}

func TestCompareMalformedHash(t *testing.T) {
	h := testHasher(t, 1)
	err := h.Compare(context.Background(), []byte("not a hash"), "pw")
	if err == nil || err == app.ErrPasswordMismatch {
		t.Fatalf("Compare(malformed) = %v, want an internal error", err)
	}
	if app.ErrCode(err) != app.EINTERNAL {
		t.Fatalf("code %s, want internal", app.ErrCode(err))
	}
}

func TestDefaultCostIs12(t *testing.T) {
	if DefaultCost != 12 {
		t.Fatalf("DefaultCost = %d, want 12 (ARCHITECTURE.md)", DefaultCost)
	}
	if testing.Short() {
		t.Skip("cost-12 hashing is slow")
	}
	h := NewHasher(0, 1)
	hash, err := h.Hash(context.Background(), "check the cost")
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := bcrypt.Cost(hash); c != 12 {
		t.Fatalf("hash cost %d, want 12", c)
	}
	if c, _ := bcrypt.Cost(h.DummyHash()); c != 12 {
		t.Fatalf("dummy hash cost %d, want 12", c)
	}
	if h.NeedsRehash(hash) || !h.NeedsRehash(NewHasher(bcrypt.MinCost, 1).DummyHash()) {
		t.Fatal("NeedsRehash wrong")
	}
}

func TestNewHasherRejectsBadCost(t *testing.T) {
	for _, cost := range []int{1, 3, 32, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewHasher(%d) did not panic", cost)
				}
			}()
			NewHasher(cost, 1)
		}()
	}
	if DefaultConcurrency() < 1 {
		t.Fatal("DefaultConcurrency < 1")
	}
}

// A full queue turns callers away at once with EUNAVAILABLE and a
// Retry-After, while those already queued still get their turn.
func TestHasherQueueFull(t *testing.T) {
	h := NewHasherQueue(bcrypt.MinCost, 1, 1)
	ctx := context.Background()
	hash, err := h.Hash(ctx, "queued-password")
	if err != nil {
		t.Fatal(err)
	}
	h.queue <- struct{}{} // one hash running
	h.sem <- struct{}{}
	waiter := make(chan error, 1)
	go func() { waiter <- h.Compare(ctx, hash, "queued-password") }()
	for deadline := time.Now().Add(10 * time.Second); len(h.queue) < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the waiter never queued")
		}
		runtime.Gosched()
	}

	start := time.Now()
	for _, call := range []func() error{
		func() error { return h.Compare(ctx, hash, "queued-password") },
		func() error { _, err := h.Hash(ctx, "another-password"); return err },
	} {
		err := call()
		var ae *app.Error
		if app.ErrCode(err) != app.EUNAVAILABLE || !errors.As(err, &ae) || ae.RetryAfter <= 0 {
			t.Fatalf("with the queue full: %v, want unavailable with RetryAfter", err)
		}
		if errors.Is(err, app.ErrPasswordMismatch) {
			t.Fatal("a turned-away compare must not look like a wrong password")
		}
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("a full queue made callers wait")
	}

	h.release()
	if err := <-waiter; err != nil {
		t.Fatalf("queued compare = %v", err)
	}
	if len(h.queue) != 0 || len(h.sem) != 0 {
		t.Fatalf("tickets leaked: queue %d, slots %d", len(h.queue), len(h.sem))
	}
}
