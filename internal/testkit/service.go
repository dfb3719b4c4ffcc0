package testkit

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/app/engine"
	"github.com/nexplane/nexplane/app/pki"
	"github.com/nexplane/nexplane/app/vault"
	"github.com/nexplane/nexplane/store"
	"github.com/nexplane/nexplane/store/storetest"
)

// TestPassword passes app's password rules; every fixture user has it.
const TestPassword = "quiet-harbour-lantern-42"

// VaultKey is the secret key of every test vault.
var VaultKey = bytes.Repeat([]byte{0x24}, 32)

// Options say what a test's service needs beyond the common configuration.
type Options struct {
	// Clock is the clock of the service, the engine and the CA; nil: a new
	// NewRealClock.
	Clock *Clock
	// Log receives what the service and the engine log; nil: discarded.
	Log *slog.Logger
	// Drivers registers the connector drivers the test needs; without it
	// the registry is empty. It runs before the service is built, so a
	// driver may use the store and the clock.
	Drivers func(reg *app.Registry, db *store.DB, clock *Clock)
	// Agents gives the service a real agent CA (Env.CA).
	Agents bool
	// Engine, when not nil, runs a real engine in the background until the
	// test ends, notified of every queued change. Its Store, Registry,
	// Sealer, Logger and Clock are those of the Env.
	Engine *engine.Config
	// Configure adjusts the service's config last (a limiter, AgentRevoked).
	Configure func(*app.Config)
	// Driver picks the store: "" follows NEXPLANE_TEST_POSTGRES_URL
	// (storetest.MustOpenStore); store.DriverSQLite or store.DriverPostgres
	// force one (see BothDrivers).
	Driver string
}

// BothDrivers runs fn as subtest "sqlite", and as subtest "postgres" when
// NEXPLANE_TEST_POSTGRES_URL is set (failing without it under
// NEXPLANE_REQUIRE_INTEGRATION=1); fn passes driver on as Options.Driver.
func BothDrivers(t *testing.T, fn func(t *testing.T, driver string)) {
	t.Helper()
	t.Run(store.DriverSQLite, func(t *testing.T) { fn(t, store.DriverSQLite) })
	if os.Getenv(storetest.EnvTestPostgresURL) == "" {
		if os.Getenv(storetest.EnvRequireIntegration) == "1" {
			t.Fatalf("postgres: %s not set and %s=1", storetest.EnvTestPostgresURL, storetest.EnvRequireIntegration)
		}
		t.Logf("SKIP postgres: %s not set", storetest.EnvTestPostgresURL)
		return
	}
	t.Run(store.DriverPostgres, func(t *testing.T) { fn(t, store.DriverPostgres) })
}

func openStore(tb testing.TB, driver string) *store.DB {
	switch driver {
	case store.DriverSQLite:
		return storetest.MustOpenSQLite(tb)
	case store.DriverPostgres:
		return storetest.MustOpenPostgres(tb, os.Getenv(storetest.EnvTestPostgresURL))
	default:
		return storetest.MustOpenStore(tb)
	}
}

// Env is a Service over a real store (SQLite, or PostgreSQL when
// NEXPLANE_TEST_POSTGRES_URL is set) with real bcrypt (cost 4) and a real
// vault, and what was built for it.
type Env struct {
	DB       *store.DB
	Service  *app.Service
	Clock    *Clock
	Log      *slog.Logger
	Vault    *vault.Vault
	Registry *app.Registry
	// CA is the agent CA; nil unless Options.Agents.
	CA *pki.CA
	// Engine is nil unless Options.Engine.
	Engine *engine.Engine
}

// NewService builds an Env on a fresh store; everything it starts stops
// when the test ends.
func NewService(tb testing.TB, o Options) *Env {
	tb.Helper()
	e := &Env{DB: openStore(tb, o.Driver), Clock: o.Clock, Log: o.Log, Registry: app.NewRegistry()}
	if e.Clock == nil {
		e.Clock = NewRealClock()
	}
	if e.Log == nil {
		e.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var err error
	if e.Vault, err = vault.New(VaultKey, nil); err != nil {
		tb.Fatal(err)
	}
	if o.Drivers != nil {
		o.Drivers(e.Registry, e.DB, e.Clock)
	}
	// A queue long enough for the tests' login storms, which are about the
	// limiter; app's TestLoginStormOnTinyHashPool covers a full queue.
	cfg := app.Config{Store: e.DB, Hasher: auth.NewHasherQueue(4, 2, 1000), Clock: e.Clock.Now, Logger: e.Log,
		Registry: e.Registry, Sealer: e.Vault}
	if o.Agents {
		if e.CA, err = pki.LoadOrCreateCA(context.Background(), e.DB, e.Vault, e.Clock.Now()); err != nil {
			tb.Fatal(err)
		}
		cfg.Agents = e.CA
	}
	if o.Engine != nil {
		ec := *o.Engine
		ec.Store, ec.Registry, ec.Sealer, ec.Logger, ec.Clock = e.DB, e.Registry, e.Vault, e.Log, e.Clock.Now
		if ec.Succeeded == nil {
			// As serve wires it: the targeted sync after a success. The
			// engine starts below, once e.Service is set.
			ec.Succeeded = func(ctx context.Context, id int64) error { return e.Service.SyncChangeAssets(ctx, id) }
		}
		e.Engine = engine.New(ec)
		cfg.Queued = e.Engine.Notify
	}
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	e.Service = app.NewService(cfg)
	if e.Engine != nil {
		ctx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() { defer close(stopped); e.Engine.Run(ctx) }()
		tb.Cleanup(func() { cancel(); <-stopped })
	}
	return e
}

// MustCreateUser creates a user with TestPassword through the service, as
// the CLI would.
func MustCreateUser(tb testing.TB, svc *app.Service, email string, role app.Role) *app.User {
	tb.Helper()
	u, err := svc.CreateUser(context.Background(), app.SystemActor("test"),
		app.NewUser{Email: email, Password: TestPassword, Role: string(role)})
	if err != nil {
		tb.Fatalf("create user %s: %v", email, err)
	}
	return u
}

var (
	keyMu   sync.Mutex
	keyPool []*rsa.PrivateKey
)

// RSAKey returns RSA-2048 key number n of a pool shared by the tests of a
// binary: generation is the slow part. Keys are read-only; a test needing
// distinct keys asks for distinct numbers.
func RSAKey(tb testing.TB, n int) *rsa.PrivateKey {
	tb.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	for len(keyPool) <= n {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			tb.Fatal(err)
		}
		keyPool = append(keyPool, k)
	}
	return keyPool[n]
}
