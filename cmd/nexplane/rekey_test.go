package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// TestRekeyRollover seals secrets under key A, rolls over to key B with A as
// SECRET_KEY_PREVIOUS, rekeys, and then reads everything with B alone.
func TestRekeyRollover(t *testing.T) {
	dir := ldaptest.Start(t)
	c := newCLI(t)
	keyA, keyB := "key-A-0123456789abcdef0123456789abcdef", "key-B-fedcba9876543210fedcba9876543210"
	c.env["SECRET_KEY"] = keyA
	ctx := context.Background()

	open := func() *deps {
		t.Helper()
		cfg, err := loadConfig(c.getenv, newFlagSet("t", io.Discard), nil, true)
		if err != nil {
			t.Fatal(err)
		}
		d, err := openDeps(ctx, c.newEnv(nil, io.Discard, io.Discard), cfg, true)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := open()
	if _, err := auth.LoadOrCreateSigningKey(ctx, d.store, d.vault); err != nil {
		t.Fatal(err)
	}
	conn, err := d.svc.CreateConnector(ctx, app.SystemActor("test"), app.ConnectorInput{Name: "dir", Type: "ldap",
		Config: dir.ConfigJSON(), Credentials: dir.CredentialsJSON()})
	if err != nil {
		t.Fatal(err)
	}
	d.Close()

	// Key B alone cannot read what A sealed (the audit signing key is
	// opened first): the server would fail to start.
	c.env["SECRET_KEY"] = keyB
	if cfg, err := loadConfig(c.getenv, newFlagSet("t", io.Discard), nil, true); err != nil {
		t.Fatal(err)
	} else if _, err := openDeps(ctx, c.newEnv(nil, io.Discard, io.Discard), cfg, true); err == nil ||
		!strings.Contains(err.Error(), app.AuditSigningKeySetting) {
		t.Fatalf("key B opened the audit signing key sealed under key A: %v", err)
	}

	c.env["SECRET_KEY_PREVIOUS"] = keyA
	code, out, stderr := c.run("", "rekey")
	if code != 0 || !strings.Contains(out, "re-sealed 3 secrets") || !strings.Contains(out, "1 connector credentials") ||
		!strings.Contains(out, "3 were under the previous key") {
		t.Fatalf("rekey: %d %q %q", code, out, stderr)
	}
	// A second run finds nothing left under the old key.
	if code, out, _ := c.run("", "rekey"); code != 0 || !strings.Contains(out, "0 were under the previous key") {
		t.Errorf("second rekey: %d %q", code, out)
	}

	delete(c.env, "SECRET_KEY_PREVIOUS")
	d = open()
	defer d.Close()
	if _, err := auth.LoadOrCreateSigningKey(ctx, d.store, d.vault); err != nil {
		t.Errorf("signing key after rekey: %v", err)
	}
	msg, err := d.svc.TestConnector(ctx, app.SystemActor("test"), conn.ID)
	if err != nil {
		t.Errorf("connector after rekey: %v", err)
	} else {
		t.Logf("connector test: %s", msg)
	}
	evs, err := d.store.ListAudit(ctx, app.AuditFilter{Event: "secrets.rekeyed"})
	if err != nil || len(evs) != 2 {
		t.Errorf("secrets.rekeyed audit records: %d %v", len(evs), err)
	}

	// The bind password is nowhere in the database files.
	for _, f := range []string{"nexplane.db", "nexplane.db-wal"} {
		b, err := os.ReadFile(filepath.Join(c.env["NEXPLANE_DATA_DIR"], f))
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(dir.BindPassword)) {
			t.Errorf("%s holds the bind password in plaintext", f)
		}
	}
}
