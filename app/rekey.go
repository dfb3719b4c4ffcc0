package app

import (
	"context"
	"fmt"
)

// RekeyReport counts what Rekey re-sealed.
type RekeyReport struct {
	ConnectorCredentials int
	Reveals              int
	Settings             int
	MFASecrets           int
	ProviderSecrets      int
	// FromPreviousKey counts values that were still sealed under
	// SECRET_KEY_PREVIOUS; after a rekey none are.
	FromPreviousKey int
}

// Total is every value re-sealed.
func (r RekeyReport) Total() int {
	return r.ConnectorCredentials + r.Reveals + r.Settings + r.MFASecrets + r.ProviderSecrets
}

// keyAger is implemented by sealers that can tell an old key's output.
type keyAger interface {
	NeedsRekey(sealed []byte) bool
}

// SettingAD is the additional data of a sealed setting.
func SettingAD(key string) string { return "setting:" + key }

// Rekey re-seals every stored secret under the current key in one
// transaction: connector credentials, pending one-time secrets, identity
// provider secrets, and the
// sealed settings named (the JWT signing key). After it, SECRET_KEY_PREVIOUS
// can be dropped. Plaintexts exist only in memory, one at a time.
func (s *Service) Rekey(ctx context.Context, actor Actor, sealedSettings []string) (RekeyReport, error) {
	var rep RekeyReport
	if err := actor.require(ActManageSettings); err != nil {
		return rep, err
	}
	if s.sealer == nil {
		return rep, fmt.Errorf("rekey: no sealer configured")
	}
	ager, _ := s.sealer.(keyAger)
	reseal := func(sealed []byte, ad string) ([]byte, error) {
		if ager != nil && ager.NeedsRekey(sealed) {
			rep.FromPreviousKey++
		}
		plain, err := s.sealer.Open(sealed, ad)
		if err != nil {
			return nil, fmt.Errorf("open (%s): %w", ad, err)
		}
		defer clear(plain)
		return s.sealer.Seal(plain, ad)
	}
	err := s.store.WithTx(ctx, func(tx Tx) error {
		cs, err := tx.ConnectorsWithCredentials(ctx)
		if err != nil {
			return err
		}
		for i := range cs {
			c := &cs[i]
			if c.SealedCredentials, err = reseal(c.SealedCredentials, c.CredentialsAD()); err != nil {
				return err
			}
			if err := tx.UpdateConnector(ctx, c); err != nil {
				return err
			}
			rep.ConnectorCredentials++
		}
		rs, err := tx.AllReveals(ctx)
		if err != nil {
			return err
		}
		for _, r := range rs {
			sealed, err := reseal(r.Sealed, RevealAD(r.ChangeRequestID, r.OperationID))
			if err != nil {
				return err
			}
			if err := tx.UpdateRevealSealed(ctx, r.ID, sealed); err != nil {
				return err
			}
			rep.Reveals++
		}
		fs, err := tx.AllMFAFactors(ctx)
		if err != nil {
			return err
		}
		for i := range fs {
			f := &fs[i]
			if f.Sealed, err = reseal(f.Sealed, MFAFactorAD(f.UserID, f.Kind)); err != nil {
				return err
			}
			if err := tx.PutMFAFactor(ctx, f); err != nil {
				return err
			}
			rep.MFASecrets++
		}
		ps, err := tx.ListIdentityProviders(ctx)
		if err != nil {
			return err
		}
		for i := range ps {
			p := &ps[i]
			if p.SealedSecrets == nil {
				continue
			}
			if p.SealedSecrets, err = reseal(p.SealedSecrets, p.SecretsAD()); err != nil {
				return err
			}
			if err := tx.UpdateIdentityProvider(ctx, p); err != nil {
				return err
			}
			rep.ProviderSecrets++
		}
		for _, key := range sealedSettings {
			v, err := tx.Setting(ctx, key)
			if ErrCode(err) == ENOTFOUND {
				continue
			}
			if err != nil {
				return err
			}
			if v, err = reseal(v, SettingAD(key)); err != nil {
				return err
			}
			if err := tx.PutSetting(ctx, key, v); err != nil {
				return err
			}
			rep.Settings++
		}
		return s.appendAudit(ctx, tx, actor, "secrets.rekeyed", "settings", "",
			map[string]any{"connector_credentials": rep.ConnectorCredentials, "reveals": rep.Reveals,
				"settings": rep.Settings, "mfa_secrets": rep.MFASecrets, "identity_provider_secrets": rep.ProviderSecrets,
				"from_previous_key": rep.FromPreviousKey})
	})
	if err != nil {
		return RekeyReport{}, fmt.Errorf("rekey: %w", err)
	}
	return rep, nil
}
