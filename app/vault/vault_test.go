package vault

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

var (
	secretA = []byte("0123456789abcdef0123456789abcdef") // 32 bytes
	secretB = []byte("fedcba9876543210fedcba9876543210-b")
	secretC = []byte("a completely different secret key, 45 bytes!")
)

func mustNew(t *testing.T, cur, prev []byte) *Vault {
	t.Helper()
	v, err := New(cur, prev)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return v
}

func TestNewRefusesShortKeys(t *testing.T) {
	tests := []struct {
		name      string
		cur, prev []byte
	}{
		{"empty", nil, nil},
		{"31 bytes", secretA[:31], nil},
		{"short previous", secretA, []byte("short")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cur, tt.prev); err == nil {
				t.Fatal("New accepted a short key")
			}
		})
	}
	if _, err := New(secretA, nil); err != nil {
		t.Fatalf("32-byte key refused: %v", err)
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	v := mustNew(t, secretA, nil)
	for _, pt := range [][]byte{{}, []byte("x"), bytes.Repeat([]byte("secret"), 1000)} {
		sealed, err := v.Seal(pt, "connector:12:credentials")
		if err != nil {
			t.Fatal(err)
		}
		if len(sealed) != len(pt)+Overhead {
			t.Errorf("sealed length %d, want %d", len(sealed), len(pt)+Overhead)
		}
		if sealed[0] != 1 {
			t.Errorf("version byte %d, want 1", sealed[0])
		}
		if got := fmt.Sprintf("%x", sealed[1:5]); got != v.KeyID() {
			t.Errorf("key id in value %s, want %s", got, v.KeyID())
		}
		got, err := v.Open(sealed, "connector:12:credentials")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatal("round trip changed the plaintext")
		}
	}
}

func TestCiphertextsDifferForEqualInputs(t *testing.T) {
	v := mustNew(t, secretA, nil)
	a, _ := v.Seal([]byte("same"), "x:1:y")
	b, _ := v.Seal([]byte("same"), "x:1:y")
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same input are identical (nonce reuse?)")
	}
	if bytes.Equal(a[5:17], b[5:17]) {
		t.Fatal("nonces repeat")
	}
}

func TestOpenRejectsAlteredBytes(t *testing.T) {
	v := mustNew(t, secretA, nil)
	sealed, _ := v.Seal([]byte("the credentials"), "connector:1:credentials")
	for i := range sealed {
		c := bytes.Clone(sealed)
		c[i] ^= 0x01
		_, err := v.Open(c, "connector:1:credentials")
		if err == nil {
			t.Fatalf("flipping byte %d went unnoticed", i)
		}
		switch {
		case i == 0:
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("byte 0: got %v, want ErrMalformed", err)
			}
		case i < 5:
			if !errors.Is(err, ErrUnknownKey) {
				t.Errorf("byte %d (key id): got %v, want ErrUnknownKey", i, err)
			}
		default:
			if !errors.Is(err, ErrAuthentication) {
				t.Errorf("byte %d: got %v, want ErrAuthentication", i, err)
			}
		}
	}
	if _, err := v.Open(sealed[:len(sealed)-1], "connector:1:credentials"); !errors.Is(err, ErrAuthentication) {
		t.Errorf("truncated: %v", err)
	}
	if _, err := v.Open(sealed[:Overhead-1], "connector:1:credentials"); !errors.Is(err, ErrMalformed) {
		t.Errorf("too short: %v", err)
	}
}

func TestOpenRejectsOtherAD(t *testing.T) {
	v := mustNew(t, secretA, nil)
	sealed, _ := v.Seal([]byte("k"), "connector:12:credentials")
	for _, ad := range []string{"connector:13:credentials", "connector:12:other", "connector:12:credentials ", "Connector:12:credentials"} {
		if _, err := v.Open(sealed, ad); !errors.Is(err, ErrAuthentication) {
			t.Errorf("ad %q: got %v, want ErrAuthentication", ad, err)
		}
	}
	if _, err := v.Seal([]byte("k"), ""); err == nil {
		t.Error("Seal accepted empty ad")
	}
	if _, err := v.Open(sealed, ""); err == nil {
		t.Error("Open accepted empty ad")
	}
}

func TestRollover(t *testing.T) {
	old := mustNew(t, secretA, nil)
	sealedOld, _ := old.Seal([]byte("old secret"), "setting:x")

	rolled := mustNew(t, secretB, secretA)
	if rolled.PreviousKeyID() != old.KeyID() {
		t.Fatalf("previous key id %s, want %s", rolled.PreviousKeyID(), old.KeyID())
	}
	got, err := rolled.Open(sealedOld, "setting:x")
	if err != nil || string(got) != "old secret" {
		t.Fatalf("previous key could not open: %q, %v", got, err)
	}
	if !rolled.NeedsRekey(sealedOld) {
		t.Error("NeedsRekey = false for a value under the previous key")
	}
	sealedNew, _ := rolled.Seal(got, "setting:x")
	if rolled.NeedsRekey(sealedNew) {
		t.Error("NeedsRekey = true for a value under the current key")
	}
	if old.NeedsRekey(sealedOld) {
		t.Error("NeedsRekey = true without a previous key")
	}
	// The old vault does not know the new key.
	if _, err := old.Open(sealedNew, "setting:x"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("got %v, want ErrUnknownKey", err)
	}
	if !strings.Contains(ErrUnknownKey.Error(), "unknown key") || !strings.Contains(ErrAuthentication.Error(), "failed authentication") {
		t.Error("error texts changed")
	}
}

func TestUnknownKeyFails(t *testing.T) {
	a := mustNew(t, secretA, nil)
	c := mustNew(t, secretC, secretB)
	sealed, _ := a.Seal([]byte("v"), "p")
	if _, err := c.Open(sealed, "p"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("got %v, want ErrUnknownKey", err)
	}
	if c.NeedsRekey(sealed) {
		t.Error("NeedsRekey = true for an unknown key")
	}
}

func TestKeyIDIsStableAndDistinct(t *testing.T) {
	a1, a2, b := mustNew(t, secretA, nil), mustNew(t, secretA, nil), mustNew(t, secretB, nil)
	if a1.KeyID() != a2.KeyID() {
		t.Error("key id not deterministic")
	}
	if a1.KeyID() == b.KeyID() {
		t.Error("different secrets share a key id")
	}
	if len(a1.KeyID()) != 8 {
		t.Errorf("key id %q is not 8 hex chars", a1.KeyID())
	}
	if same := mustNew(t, secretA, secretA); same.PreviousKeyID() != "" {
		t.Error("previous equal to current should be ignored")
	}
}

func TestRedaction(t *testing.T) {
	v := mustNew(t, secretA, nil)
	for _, s := range []string{fmt.Sprintf("%v", v), fmt.Sprintf("%+v", v), fmt.Sprintf("%#v", v), fmt.Sprint(v)} {
		if !strings.Contains(s, "[redacted]") || strings.Contains(s, "aead") {
			t.Errorf("fmt output leaks internals: %s", s)
		}
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "vault", v)
	if !strings.Contains(buf.String(), "[redacted]") {
		t.Errorf("slog output: %s", buf.String())
	}
}

func BenchmarkSealOpen(b *testing.B) {
	v, _ := New(secretA, nil)
	pt := bytes.Repeat([]byte("k"), 64)
	for b.Loop() {
		s, _ := v.Seal(pt, "connector:1:credentials")
		if _, err := v.Open(s, "connector:1:credentials"); err != nil {
			b.Fatal(err)
		}
	}
}
