package api_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/internal/testkit"
)

// TestAPIPasskeyOnlyLogin: passkeys answer in the console only. An API login
// of a user whose only second factor is a passkey is refused with 403
// mfa_passkey_console_only (recorded), never a token; with an authenticator
// app as well, the API's second step works as before.
func TestAPIPasskeyOnlyLogin(t *testing.T) {
	onBothDrivers(t, func(t *testing.T) {
		clock := testkit.NewClock(mfaEpoch)
		e := newTestEnvWith(t, testkit.Options{Clock: clock}, nil)
		u := e.mkUser("lin@example.com", app.RoleOperator)
		ctx := context.Background()
		if err := e.db.WithTx(ctx, func(tx app.Tx) error {
			return tx.CreatePasskey(ctx, &app.Passkey{UserID: u.ID, CredentialID: []byte("cred-1"), PublicKey: []byte("cose"),
				AAGUID: make([]byte, 16), Name: "Laptop", CreatedAt: clock.Now()})
		}); err != nil {
			t.Fatal(err)
		}
		st, body := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": u.Email, "password": testPassword})
		if st != http.StatusForbidden || errCode(body) != "mfa_passkey_console_only" || body["token"] != nil || body["mfa_token"] != nil {
			t.Fatalf("passkey-only API login: %d %v", st, body)
		}
		found := false
		for _, ev := range e.auditEvents("auth.login_failed") {
			found = found || strings.Contains(string(ev.Payload), `"reason":"mfa_passkey_console_only"`)
		}
		if !found {
			t.Error("the refusal is not recorded")
		}
		// A wrong password is still just bad credentials.
		if st, body := e.do("POST", "/api/v1/auth/login", "", map[string]string{"email": u.Email, "password": "wrong"}); st != http.StatusUnauthorized {
			t.Fatalf("wrong password: %d %v", st, body)
		}

		enrolTOTP(t, e.svc, clock, u)
		e.mfaStart(u.Email) // 200 with an mfa_token: TOTP answers the API
	})
}
