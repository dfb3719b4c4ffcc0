package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/api"
)

func cmdAudit(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		return usageErr("audit: missing subcommand (verify, export, checkpoint)")
	}
	switch args[0] {
	case "verify":
		return cmdAuditVerify(ctx, e, args[1:])
	case "export":
		return cmdAuditExport(ctx, e, args[1:])
	case "checkpoint":
		return cmdAuditCheckpoint(ctx, e, args[1:])
	default:
		return usageErr("audit: unknown subcommand %q (verify, export, checkpoint)", args[0])
	}
}

// repeated collects a flag given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// cmdAuditVerify needs no SECRET_KEY: checkpoints are checked against the
// public key in the database, or the one pinned with --key.
func cmdAuditVerify(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("audit verify", e.stderr)
	var witnesses, expects repeated
	fs.Var(&witnesses, "witness", "file of checkpoint lines (JSON, one per line) kept outside the database; repeatable")
	fs.Var(&expects, "expect", "seq:hash the chain is known to have had; repeatable")
	keyArg := fs.String("key", "", "pin the audit public key: a file holding it, or the key itself (base64)")
	file := fs.String("file", "", "verify this export (JSON Lines from audit export) offline instead of the database")
	cfg, err := loadConfig(e.getenv, fs, args, false)
	if err != nil {
		return err
	}
	var opts app.VerifyOptions
	if *keyArg != "" {
		if opts.PinnedKey, err = parsePinnedKey(*keyArg); err != nil {
			return err
		}
	}
	if *file != "" {
		if len(witnesses) > 0 || len(expects) > 0 {
			return usageErr("audit verify: --file takes only --key")
		}
		return verifyExportFile(e, *file, opts.PinnedKey)
	}
	for _, w := range witnesses {
		f, err := os.Open(w)
		if err != nil {
			return usageErr("audit verify: --witness: %v", err)
		}
		cs, err := app.ReadWitness(f)
		f.Close()
		if err != nil {
			return usageErr("audit verify: --witness %s: %v", w, err)
		}
		opts.Witness = append(opts.Witness, cs...)
	}
	for _, x := range expects {
		h, err := app.ParseExpectedHead(x)
		if err != nil {
			return usageErr("audit verify: --expect: %v", err)
		}
		opts.Expect = append(opts.Expect, h)
	}
	d, err := openDeps(ctx, e, cfg, false)
	if err != nil {
		return err
	}
	defer d.Close()
	res, err := d.svc.VerifyAudit(ctx, opts)
	var brk *app.ChainBreak
	if errors.As(err, &brk) {
		return fmt.Errorf("audit BROKEN at %s: %s: %s (%d records verified before)", brk.Where(), brk.Kind, brk.Reason, res.Records)
	}
	if err != nil {
		return fmt.Errorf("verify audit: %w", err)
	}
	fmt.Fprintf(e.stdout, "audit chain OK: %d records verified, %d checkpoints signed by key %s (last at record %d), %d witnessed states held\n",
		res.Records, res.Checkpoints, res.KeyID, res.LastCheckpoint, res.Witnessed)
	if res.Head > res.LastCheckpoint {
		fmt.Fprintf(e.stdout, "records %d..%d are after the last checkpoint: only a later checkpoint proves they were not altered\n",
			res.LastCheckpoint+1, res.Head)
	}
	return nil
}

// verifyExportFile checks an export with the public key only: no
// database, no SECRET_KEY.
func verifyExportFile(e *env, path string, pinned ed25519.PublicKey) error {
	f, err := os.Open(path)
	if err != nil {
		return usageErr("audit verify: --file: %v", err)
	}
	defer f.Close()
	res, err := app.VerifyAuditExport(f, pinned)
	var brk *app.ChainBreak
	if errors.As(err, &brk) {
		return fmt.Errorf("export BROKEN at %s: %s: %s (%d records verified before)", brk.Where(), brk.Kind, brk.Reason, res.Records)
	}
	if err != nil {
		return fmt.Errorf("verify export: %w", err)
	}
	fmt.Fprintf(e.stdout, "export OK: %d records (%d..%d), %d checkpoints signed by key %s\n",
		res.Records, res.FirstID, res.LastID, res.Checkpoints, res.KeyID)
	if !res.Pinned {
		fmt.Fprintf(e.stdout, "the key was read from the export itself: compare key id %s with the server's (GET /api/v1/audit/checkpoints/key) or pass --key\n", res.KeyID)
	}
	if res.MidHistory {
		fmt.Fprintf(e.stdout, "the export starts at record %d: record %d's prev_hash is taken as given (verify the database, or an export from the start, for what came before)\n",
			res.FirstID, res.FirstID)
	}
	if res.LastID > res.LastCheckpoint {
		fmt.Fprintf(e.stdout, "records %d..%d are after the export's last checkpoint: only a later checkpoint proves they were not altered\n",
			max(res.LastCheckpoint+1, res.FirstID), res.LastID)
	}
	return nil
}

// parsePinnedKey reads --key: a file holding the base64 public key, or the
// key itself.
func parsePinnedKey(arg string) (ed25519.PublicKey, error) {
	text := arg
	if b, err := os.ReadFile(arg); err == nil {
		text = string(b)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(text))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, usageErr("audit verify: --key must be a file holding, or be, the base64 Ed25519 public key (GET /api/v1/audit/checkpoints/key)")
	}
	return ed25519.PublicKey(raw), nil
}

// cmdAuditCheckpoint signs the current chain head now.
func cmdAuditCheckpoint(ctx context.Context, e *env, args []string) error {
	cfg, err := loadConfig(e.getenv, newFlagSet("audit checkpoint", e.stderr), args, true)
	if err != nil {
		return err
	}
	d, err := openDeps(ctx, e, cfg, true)
	if err != nil {
		return err
	}
	defer d.Close()
	c, err := d.svc.WriteCheckpoint(ctx, d.auditSigner)
	if err != nil {
		return err
	}
	if c == nil {
		fmt.Fprintln(e.stdout, "the chain head is already checkpointed")
		return nil
	}
	fmt.Fprintln(e.stdout, c.MarshalLine())
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
