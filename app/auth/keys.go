package auth

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/vault"
)

const (
	// SigningKeySetting is the settings key holding the sealed JWT signing key
	// (PKCS#8 DER).
	SigningKeySetting = "auth.jwt_signing_key"
	// signingKeyAD binds the sealed key to its row and purpose.
	signingKeyAD   = "setting:" + SigningKeySetting
	signingKeyBits = 2048
)

// LoadOrCreateSigningKey returns the server's JWT signing key, creating and
// storing it (sealed by v) on first start.
//
// Two servers starting at once on an empty database both generate a key;
// CreateSetting (insert-if-absent) lets exactly one win and the other adopts
// the stored key. Generation (~100 ms or more for RSA-2048) happens before
// the transaction so no write lock is held meanwhile. A value sealed under
// SECRET_KEY_PREVIOUS is re-sealed under the current key.
func LoadOrCreateSigningKey(ctx context.Context, st app.Store, v *vault.Vault) (*rsa.PrivateKey, error) {
	sealed, err := st.Setting(ctx, SigningKeySetting)
	switch {
	case err == nil:
		return openSigningKey(ctx, st, v, sealed)
	case app.ErrCode(err) != app.ENOTFOUND:
		return nil, fmt.Errorf("auth: read JWT signing key: %w", err)
	}

	key, err := rsa.GenerateKey(rand.Reader, signingKeyBits)
	if err != nil {
		return nil, fmt.Errorf("auth: generate JWT signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("auth: encode JWT signing key: %w", err)
	}
	mine, err := v.Seal(der, signingKeyAD)
	if err != nil {
		return nil, fmt.Errorf("auth: seal JWT signing key: %w", err)
	}
	var created bool
	err = st.WithTx(ctx, func(tx app.Tx) error {
		var err error
		created, err = tx.CreateSetting(ctx, SigningKeySetting, mine)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("auth: store JWT signing key: %w", err)
	}
	if created {
		return key, nil
	}
	stored, err := st.Setting(ctx, SigningKeySetting) // another starter won; use its key
	if err != nil {
		return nil, fmt.Errorf("auth: read JWT signing key: %w", err)
	}
	return openSigningKey(ctx, st, v, stored)
}

// openSigningKey unseals and parses a stored key, re-sealing it under the
// current vault key when it was sealed under the previous one.
func openSigningKey(ctx context.Context, st app.Store, v *vault.Vault, sealed []byte) (*rsa.PrivateKey, error) {
	der, err := v.Open(sealed, signingKeyAD)
	if err != nil {
		return nil, fmt.Errorf("auth: open JWT signing key (setting %s): %w", SigningKeySetting, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("auth: parse JWT signing key: %w", err)
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("auth: JWT signing key is a %T, want RSA", parsed)
	}
	if key.N.BitLen() < MinRSABits {
		return nil, fmt.Errorf("auth: JWT signing key has %d bits, want at least %d", key.N.BitLen(), MinRSABits)
	}
	if v.NeedsRekey(sealed) {
		if err := rekeySigningKey(ctx, st, v, sealed, der); err != nil {
			return nil, err
		}
	}
	return key, nil
}

func rekeySigningKey(ctx context.Context, st app.Store, v *vault.Vault, old, der []byte) error {
	resealed, err := v.Seal(der, signingKeyAD)
	if err != nil {
		return fmt.Errorf("auth: re-seal JWT signing key: %w", err)
	}
	err = st.WithTx(ctx, func(tx app.Tx) error {
		cur, err := tx.Setting(ctx, SigningKeySetting)
		if err != nil {
			return err
		}
		if !bytes.Equal(cur, old) {
			return nil // someone else re-sealed (or replaced) it meanwhile
		}
		return tx.PutSetting(ctx, SigningKeySetting, resealed)
	})
	if err != nil {
		return fmt.Errorf("auth: store re-sealed JWT signing key: %w", err)
	}
	return nil
}
