package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/app/connector/aws"
	"github.com/nexplane/nexplane/app/connector/hosts"
	"github.com/nexplane/nexplane/app/connector/ldap"
	"github.com/nexplane/nexplane/app/dispatch"
	"github.com/nexplane/nexplane/app/engine"
	ssoldap "github.com/nexplane/nexplane/app/sso/ldapauth"
	ssooidc "github.com/nexplane/nexplane/app/sso/oidc"
	"github.com/nexplane/nexplane/app/tlspolicy"
	"github.com/nexplane/nexplane/app/vault"
	"github.com/nexplane/nexplane/store"
)

// Token claims that tie a JWT to this product's API.
const (
	tokenIssuer   = "nexplane"
	tokenAudience = "nexplane-api"
)

// newFlagSet makes a flag set that reports errors to us instead of exiting.
func newFlagSet(name string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return fs
}

// deps are the long-lived objects every command builds the same way.
type deps struct {
	cfg      *config
	store    *store.DB
	vault    *vault.Vault
	hasher   *auth.Hasher
	registry *app.Registry
	engine   *engine.Engine
	// agentWork is how the agents connector reaches agents: the agent
	// listener's hub once serve has built it.
	agentWork *agentDispatcher
	svc       *app.Service
	// svcCfg built svc; serve rebuilds svc from it with the agent CA.
	svcCfg app.Config
	// auditSigner signs audit checkpoints; nil without SECRET_KEY or when
	// the command does not migrate (read-only commands such as verify).
	auditSigner *app.AuditSigner
	// witness receives every checkpoint serve stores; nil when off.
	witness *witnessFile
}

// openDeps opens the store (creating the data dir for SQLite), migrates it
// when asked, and builds the service.
func openDeps(ctx context.Context, e *env, cfg *config, migrate bool) (*deps, error) {
	if cfg.DatabaseURL == "" {
		if err := ensureDataDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir, e.log)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if migrate {
		n, err := db.Migrate(ctx)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("migrate database: %w", err)
		}
		if n > 0 {
			e.log.Info("applied database migrations", "count", n, "driver", db.Driver())
		}
	} else if applied, latest, err := db.SchemaVersion(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("check schema: %w", err)
	} else if applied != latest {
		db.Close()
		return nil, fmt.Errorf("database schema is at version %d, this binary needs %d: run `nexplane migrate` or start the server", applied, latest)
	}
	d := &deps{cfg: cfg, store: db}
	if len(cfg.SecretKey) > 0 {
		if d.vault, err = vault.New(cfg.SecretKey, cfg.SecretKeyPrevious); err != nil {
			db.Close()
			return nil, configErr("SECRET_KEY: %v", err)
		}
	}
	d.hasher = auth.NewHasher(e.bcryptCost, auth.DefaultConcurrency())
	d.registry = app.NewRegistry()
	ldap.Register(d.registry)
	aws.Register(d.registry)
	ssooidc.Register(d.registry, ssoHTTPClient())
	ssoldap.Register(d.registry)
	d.agentWork = &agentDispatcher{}
	hosts.Register(d.registry, hosts.NewDriver(d.agentWork, db, time.Now))
	var sealer app.Sealer
	if d.vault != nil {
		sealer = d.vault
	}
	d.engine = engine.New(engine.Config{Store: db, Registry: d.registry, Sealer: sealer, Logger: e.log,
		LeaseTTL: cfg.LeaseTTL, OpTimeout: cfg.OpTimeout, PerConnector: cfg.ConnectorConcurrency, DrainTimeout: cfg.DrainTimeout,
		// d.svc is set below, before serve starts the engine.
		Succeeded: func(ctx context.Context, id int64) error { return d.svc.SyncChangeAssets(ctx, id) }})
	d.svcCfg = app.Config{Store: db, Hasher: d.hasher, Logger: e.log, Registry: d.registry,
		Sealer: sealer, Queued: d.engine.Notify}
	d.svc = app.NewService(d.svcCfg)
	if migrate && d.vault != nil {
		// Every process that may append audit records checkpoints them
		// (at close, and every second in serve).
		signer, created, err := d.svc.LoadOrCreateAuditSigner(ctx)
		if err != nil {
			db.Close()
			return nil, err
		}
		if created {
			e.log.Info("audit signing key created", "key_id", signer.KeyID(),
				"public_key", base64.StdEncoding.EncodeToString(signer.PublicKey()))
		}
		d.auditSigner = signer
	}
	return d, nil
}

// Close checkpoints what this process appended, then closes the store.
func (d *deps) Close() error {
	var cpErr error
	if d.auditSigner != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var c *app.Checkpoint
		c, cpErr = d.svc.WriteCheckpoint(ctx, d.auditSigner)
		cancel()
		d.witnessed(c)
	}
	return errors.Join(cpErr, d.store.Close())
}

// witnessed appends a committed checkpoint to the witness file, if any.
func (d *deps) witnessed(c *app.Checkpoint) {
	if c != nil && d.witness != nil {
		d.witness.Append(c)
	}
}

// agentDispatcher hands agents-connector work to the server's relay (this
// process's hub, or another server's). The registry (and so the driver) is
// built before serve makes the relay, so it is set late; until then, and in
// CLI processes, work fails at once instead of waiting out its timeout.
type agentDispatcher struct {
	relay atomic.Pointer[dispatch.Relay]
}

func (a *agentDispatcher) Dispatch(ctx context.Context, agentID string, w ops.Work) (ops.Result, error) {
	h := a.relay.Load()
	if h == nil {
		return ops.Result{}, errors.New("this process does not serve host operations (only `nexplane serve` does)")
	}
	return h.Dispatch(ctx, agentID, w)
}

// ensureDataDir creates the data dir (0750) and proves it is writable, so an
// unwritable directory fails at start with one clear line.
func ensureDataDir(dir string) error {
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		// The directory holds the database and the TLS key: only the
		// server's user may enter one we create, whatever the umask. One
		// that exists is left as its owner (the package) made it.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return configErr("NEXPLANE_DATA_DIR %s cannot be created: %v", dir, errors.Unwrap(err))
		}
		if err := os.Chmod(dir, 0o700); err != nil {
			return configErr("NEXPLANE_DATA_DIR %s: cannot set its mode: %v", dir, errors.Unwrap(err))
		}
	}
	f, err := os.CreateTemp(dir, ".write-check-*")
	if err != nil {
		return configErr("NEXPLANE_DATA_DIR %s is not writable: %v", dir, errors.Unwrap(err))
	}
	f.Close()
	return os.Remove(f.Name())
}

// cookieKey derives the console cookie MAC key from SECRET_KEY, separate from
// the vault key so neither use can stand in for the other.
func cookieKey(secret []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, secret, []byte("nexplane-console-cookie-v1"), "cookie mac key", 32)
}

func absDataDir(dir string) string {
	if a, err := filepath.Abs(dir); err == nil {
		return a
	}
	return dir
}

// ssoHTTPClient talks to identity providers (discovery, keys, token
// exchange) under the one TLS policy, with a deadline so a hung provider
// fails a login instead of holding it.
func ssoHTTPClient() *http.Client {
	return &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{Proxy: http.ProxyFromEnvironment,
		TLSClientConfig: tlspolicy.Apply(&tls.Config{})}}
}
