package web_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

// TestSIEMPanel: admins see how far forwarding has got and why it fails on
// the audit page; other readers of the audit log do not; without
// forwarding there is no panel.
func TestSIEMPanel(t *testing.T) {
	e := newEnv(t, envOpts{syslog: "tcp+tls://siem.example.com:6514"})
	e.seedUser("admin@example.com", app.RoleAdmin)
	e.seedUser("op@example.com", app.RoleOperator)
	ctx := context.Background()
	err := e.db.WithTx(ctx, func(tx app.Tx) error {
		now := time.Now()
		if _, err := tx.ClaimOutbox(ctx, app.OutboxSyslog, "other", now, now); err != nil {
			return err
		}
		if err := tx.AdvanceOutbox(ctx, app.OutboxSyslog, 1, now); err != nil {
			return err
		}
		return tx.SetOutboxError(ctx, app.OutboxSyslog, "connect: connection refused", now)
	})
	if err != nil {
		t.Fatal(err)
	}
	admin := e.client()
	e.login(admin, "admin@example.com")
	r := e.get(admin, "/audit")
	head, err := e.db.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`data-testid="siem-status"`, "tcp+tls://siem.example.com:6514",
		`data-testid="siem-delivered">1<`, `data-testid="siem-backlog">` + strconv.FormatInt(head-1, 10) + `<`,
		"Delivery failing: connect: connection refused"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("admin's audit page lacks %q", want)
		}
	}
	op := e.client()
	e.login(op, "op@example.com")
	if r := e.get(op, "/audit"); r.StatusCode != 200 || strings.Contains(r.body, "siem-status") {
		t.Errorf("operator: %d, panel shown: %v", r.StatusCode, strings.Contains(r.body, "siem-status"))
	}

	off := newEnv(t, envOpts{})
	off.seedUser("admin@example.com", app.RoleAdmin)
	c := off.client()
	off.login(c, "admin@example.com")
	if r := off.get(c, "/audit"); strings.Contains(r.body, "siem-status") {
		t.Error("panel shown without forwarding")
	}
}
