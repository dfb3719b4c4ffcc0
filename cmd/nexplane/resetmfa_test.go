package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/pquerna/otp/totp"

	"github.com/nexplane/nexplane/app"
)

// TestUserResetMFA: the CLI removes a user's second factor (lost device),
// ends their sessions, and records it; a TOTP secret survives rekey.
func TestUserResetMFA(t *testing.T) {
	c := newCLI(t)
	ctx := context.Background()
	if code, _, stderr := c.run("a long enough password\n", "user", "create", "--email", "ops@example.com", "--role", "admin", "--password-stdin"); code != 0 {
		t.Fatal(stderr)
	}
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
	u, err := d.store.UserByEmail(ctx, "ops@example.com")
	if err != nil {
		t.Fatal(err)
	}
	enr, err := d.svc.BeginTOTPEnrollment(ctx, app.UserActor(u))
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(enr.Secret, d.svc.Now())
	if _, err := d.svc.ConfirmTOTPEnrollment(ctx, app.UserActor(u), code); err != nil {
		t.Fatal(err)
	}
	d.Close()

	// Rekey re-seals the TOTP secret too.
	if code, out, stderr := c.run("", "rekey"); code != 0 || !strings.Contains(out, "1 second-factor secrets") {
		t.Fatalf("rekey: %d %q %q", code, out, stderr)
	}

	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"user", "reset-mfa"}, 2, "--email is required"},
		{[]string{"user", "reset-mfa", "--email", "ghost@example.com"}, 1, "not found"},
	} {
		if code, _, stderr := c.run("", tc.args...); code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d %q, want %d with %q", tc.args, code, stderr, tc.code, tc.want)
		}
	}
	code2, out, stderr := c.run("", "user", "reset-mfa", "--email", " OPS@example.com ")
	if code2 != 0 || !strings.Contains(out, "two-factor authentication reset for ops@example.com") {
		t.Fatalf("reset-mfa: %d %q %q", code2, out, stderr)
	}

	d = open()
	defer d.Close()
	st, err := d.svc.MFAStatusOf(ctx, app.UserActor(u))
	if err != nil || st.Enrolled || st.Pending || st.RecoveryCodes != 0 {
		t.Fatalf("after reset: %+v %v", st, err)
	}
	after, err := d.store.UserByEmail(ctx, u.Email)
	if err != nil || after.SessionVersion <= u.SessionVersion {
		t.Fatalf("sessions not ended: %+v %v", after, err)
	}
	evs, err := d.store.ListAudit(ctx, app.AuditFilter{Event: "mfa.reset", Limit: 10})
	if err != nil || len(evs) != 1 || evs[0].ActorID != "cli" {
		t.Fatalf("mfa.reset records: %+v %v", evs, err)
	}
}
