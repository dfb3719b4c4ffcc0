package main

import (
	"context"
	"fmt"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/app/pki"
)

// cmdRekey re-seals every stored secret under SECRET_KEY. Run it during a
// rollover with the old key in SECRET_KEY_PREVIOUS; afterwards the old key
// can be dropped.
func cmdRekey(ctx context.Context, e *env, args []string) error {
	cfg, err := loadConfig(e.getenv, newFlagSet("rekey", e.stderr), args, true)
	if err != nil {
		return err
	}
	d, err := openDeps(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer d.Close()
	rep, err := d.svc.Rekey(ctx, app.SystemActor("cli"), []string{auth.SigningKeySetting, pki.CAKeySetting, app.AuditSigningKeySetting})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "re-sealed %d secrets under key %s: %d connector credentials, %d one-time secrets, %d settings, %d second-factor secrets, %d identity provider secrets; %d were under the previous key\n",
		rep.Total(), d.vault.KeyID(), rep.ConnectorCredentials, rep.Reveals, rep.Settings, rep.MFASecrets, rep.ProviderSecrets, rep.FromPreviousKey)
	return nil
}
