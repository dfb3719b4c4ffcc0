package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/api"
)

func cmdAudit(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErr("audit: missing subcommand (verify, export)")
	}
	switch args[0] {
	case "verify":
		return cmdAuditVerify(ctx, e, args[1:])
	case "export":
		return cmdAuditExport(ctx, e, args[1:])
	default:
		return usageErr("audit: unknown subcommand %q (verify, export)", args[0])
	}
}

func cmdAuditVerify(ctx context.Context, e *env, args []string) error {
	cfg, err := loadConfig(e.getenv, newFlagSet("audit verify", e.stderr), args, false)
	if err != nil {
		return err
	}
	d, err := openDeps(ctx, e, cfg, false)
	if err != nil {
		return err
	}
	defer d.Close()
	n, err := d.svc.VerifyAudit(ctx)
	var brk *app.ChainBreak
	if errors.As(err, &brk) {
		return fmt.Errorf("audit chain BROKEN at record %d: %s (%d records before it verified)", brk.ID, brk.Reason, n)
	}
	if err != nil {
		return fmt.Errorf("verify audit chain: %w", err)
	}
	fmt.Fprintf(e.stdout, "audit chain OK: %d records verified\n", n)
	return nil
}

func cmdAuditExport(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("audit export", e.stderr)
	fromS := fs.String("from", "", "start time, RFC 3339, inclusive")
	toS := fs.String("to", "", "end time, RFC 3339, exclusive")
	cfg, err := loadConfig(e.getenv, fs, args, false)
	if err != nil {
		return err
	}
	var from, to time.Time
	if *fromS != "" {
		if from, err = time.Parse(time.RFC3339Nano, *fromS); err != nil {
			return usageErr("audit export: --from must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
	}
	if *toS != "" {
		if to, err = time.Parse(time.RFC3339Nano, *toS); err != nil {
			return usageErr("audit export: --to must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
	}
	d, err := openDeps(ctx, e, cfg, false)
	if err != nil {
		return err
	}
	defer d.Close()
	w := bufio.NewWriter(e.stdout)
	enc := json.NewEncoder(w)
	err = d.svc.ExportAudit(ctx, app.SystemActor("cli"), from, to, func(ev *app.AuditEvent) error {
		return enc.Encode(api.AuditJSON(ev))
	})
	if err != nil {
		return err
	}
	return w.Flush()
}
