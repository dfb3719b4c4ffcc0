package auth_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"sync"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/app/vault"
	"github.com/nexplane/nexplane/store/storetest"
)

var (
	secretA = []byte("0123456789abcdef0123456789abcdef")
	secretB = []byte("another-secret-key-of-32-bytes!!")
)

func mustVault(t *testing.T, cur, prev []byte) *vault.Vault {
	t.Helper()
	v, err := vault.New(cur, prev)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestLoadOrCreateSigningKey(t *testing.T) {
	ctx := t.Context()
	st := storetest.MustOpenStore(t)
	v := mustVault(t, secretA, nil)

	k1, err := auth.LoadOrCreateSigningKey(ctx, st, v)
	if err != nil {
		t.Fatal(err)
	}
	if k1.N.BitLen() != 2048 {
		t.Errorf("key has %d bits", k1.N.BitLen())
	}
	k2, err := auth.LoadOrCreateSigningKey(ctx, st, v)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Fatal("second start made a new key")
	}

	// Stored sealed, bound to its setting, never as plain DER.
	raw, err := st.Setting(ctx, auth.SigningKeySetting)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(k1)
	if bytes.Contains(raw, der[len(der)-64:]) {
		t.Fatal("key stored in the clear")
	}
	if _, err := v.Open(raw, "setting:"+auth.SigningKeySetting); err != nil {
		t.Fatalf("stored value does not open with the documented AD: %v", err)
	}
	if _, err := v.Open(raw, "setting:other"); err == nil {
		t.Fatal("stored value opens under another AD")
	}

	// A server started with the wrong SECRET_KEY refuses to start.
	_, err = auth.LoadOrCreateSigningKey(ctx, st, mustVault(t, secretB, nil))
	if !errors.Is(err, vault.ErrUnknownKey) {
		t.Fatalf("wrong SECRET_KEY: got %v, want vault.ErrUnknownKey", err)
	}

	// Rollover: previous key opens it, and the value is re-sealed.
	rolled := mustVault(t, secretB, secretA)
	k3, err := auth.LoadOrCreateSigningKey(ctx, st, rolled)
	if err != nil {
		t.Fatal(err)
	}
	if !k3.Equal(k1) {
		t.Fatal("rollover changed the key")
	}
	raw, _ = st.Setting(ctx, auth.SigningKeySetting)
	if rolled.NeedsRekey(raw) {
		t.Fatal("value not re-sealed under the current key")
	}
	if _, err := auth.LoadOrCreateSigningKey(ctx, st, mustVault(t, secretB, nil)); err != nil {
		t.Fatalf("after re-seal, new key alone should do: %v", err)
	}
}

func TestLoadOrCreateSigningKeyConcurrentStarters(t *testing.T) {
	ctx := t.Context()
	st := storetest.MustOpenStore(t)
	v := mustVault(t, secretA, nil)
	const n = 6
	keys := make([]any, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			k, err := auth.LoadOrCreateSigningKey(ctx, st, v)
			keys[i], errs[i] = k, err
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("starter %d: %v", i, errs[i])
		}
	}
	stored, err := auth.LoadOrCreateSigningKey(ctx, st, v)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if !stored.Equal(keys[i]) {
			t.Fatalf("starter %d uses a key other than the stored one", i)
		}
	}
}

func TestLoadOrCreateSigningKeyRejectsGarbage(t *testing.T) {
	ctx := t.Context()
	st := storetest.MustOpenStore(t)
	v := mustVault(t, secretA, nil)
	sealed, _ := v.Seal([]byte("not a key"), "setting:"+auth.SigningKeySetting)
	if err := st.WithTx(ctx, func(tx app.Tx) error { return tx.PutSetting(ctx, auth.SigningKeySetting, sealed) }); err != nil {
		t.Fatal(err)
	}
	if _, err := auth.LoadOrCreateSigningKey(ctx, st, v); err == nil {
		t.Fatal("garbage key accepted")
	}
}
