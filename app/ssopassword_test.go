package app_test

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/go-ldap/ldap/v3"
	"github.com/pquerna/otp/totp"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
	ssoldap "github.com/nexplane/nexplane/app/sso/ldapauth"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// ldapProviderConfig points an ldap identity provider at srv: StartTLS with
// its CA pinned, groups found by a group search.
func ldapProviderConfig(t *testing.T, url string, srv *ldaptest.Server) json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(map[string]any{"url": url, "start_tls": true, "ca_pem": string(srv.CAPEM),
		"bind_dn": srv.BindDN, "base_dn": srv.UserBase, "user_filter": "(&(objectClass=inetOrgPerson)(uid=%s))",
		"group_base_dn": srv.GroupBase, "group_filter": "(&(objectClass=groupOfNames)(member=%s))"})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func ldapSecrets(t *testing.T, srv *ldaptest.Server) json.RawMessage {
	t.Helper()
	raw, err := json.Marshal(map[string]string{"bind_password": srv.BindPassword})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func modifyGroup(t *testing.T, srv *ldaptest.Server, group string, add, del []string) {
	t.Helper()
	mod := ldap.NewModifyRequest("cn="+group+","+srv.GroupBase, nil)
	if add != nil {
		mod.Add("member", add)
	}
	if del != nil {
		mod.Delete("member", del)
	}
	if err := srv.Admin(t).Modify(mod); err != nil {
		t.Fatalf("modify group %s: %v", group, err)
	}
}

// The LDAP password login through the service, on a real slapd: JIT
// creation linked by entryUUID, MFA unless delegated, the mapping
// re-applied at each login (a demotion, then removal from every mapped
// group disabling the account), one refusal for wrong passwords, unknown
// and locked users, and an unreachable directory reported as unavailable.
func TestSSOPasswordLogin(t *testing.T) {
	srv := ldaptest.Start(t)
	testkit.BothDrivers(t, func(t *testing.T, driver string) {
		ctx := t.Context()
		env := testkit.NewService(t, testkit.Options{Driver: driver, Drivers: func(reg *app.Registry, _ *store.DB, _ *testkit.Clock) {
			ssoldap.Register(reg)
		}})
		svc := env.Service
		admin := app.UserActor(testkit.MustCreateUser(t, svc, "admin@example.com", app.RoleAdmin))
		idp, err := svc.CreateIdentityProvider(ctx, admin, app.IdentityProviderInput{Name: "Directory", Type: ssoldap.Type,
			Config: ldapProviderConfig(t, srv.URL, srv), Secrets: ldapSecrets(t, srv),
			Rules: []app.RoleRule{{Group: "admins", Role: app.RoleAdmin}, {Group: "devs", Role: app.RoleOperator}}})
		if err != nil {
			t.Fatalf("create identity provider: %v", err)
		}
		login := func(user, password string) (*app.LoginResult, error) {
			return svc.SSOPasswordLogin(ctx, app.SSOPasswordInput{ProviderID: idp.ID, Username: user, Password: password, ClientAddr: "192.0.2.7"})
		}
		alicePW := srv.UserPasswords["alice"]
		aliceDN := "uid=alice," + srv.UserBase

		first, err := login("alice", alicePW)
		if err != nil || first.SessionToken == "" {
			t.Fatalf("first login: %+v, %v", first, err)
		}
		alice, err := svc.Store().UserByEmail(ctx, "alice@example.org")
		if err != nil || alice.Role != app.RoleAdmin || alice.HasPassword() || alice.ID != first.User.ID {
			t.Fatalf("JIT user = %+v, %v; want an admin without password", alice, err)
		}
		si, err := svc.UserSignInOf(ctx, admin, alice.ID)
		if err != nil || si.ProviderID != idp.ID || si.Subject != entryUUIDOf(t, srv, aliceDN) {
			t.Fatalf("sign-in row = %+v, %v; want linked by entryUUID", si, err)
		}

		// MFA: an enrolled user gets the second step unless the provider
		// is trusted with it.
		enr, err := svc.BeginTOTPEnrollment(ctx, app.UserActor(alice))
		if err != nil {
			t.Fatal(err)
		}
		code, err := totp.GenerateCode(enr.Secret, env.Clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.ConfirmTOTPEnrollment(ctx, app.UserActor(alice), code); err != nil {
			t.Fatal(err)
		}
		if res, err := login("alice", alicePW); err != nil || res.MFAToken == "" || res.SessionToken != "" {
			t.Fatalf("enrolled user, MFA not delegated: %+v, %v", res, err)
		}
		yes := true
		if _, err := svc.UpdateIdentityProvider(ctx, admin, idp.ID, app.IdentityProviderPatch{MFADelegated: &yes}); err != nil {
			t.Fatal(err)
		}
		if res, err := login("alice", alicePW); err != nil || res.MFAToken != "" || res.SessionToken == "" {
			t.Fatalf("enrolled user, MFA delegated: %+v, %v", res, err)
		}
		if alice, err = svc.Store().UserByID(ctx, alice.ID); err != nil {
			t.Fatal(err)
		}

		// Out of admins, still in devs: demoted at the next login.
		bobDN := "uid=bob," + srv.UserBase
		// A groupOfNames needs a member: bob takes alice's place.
		modifyGroup(t, srv, "admins", []string{bobDN}, []string{aliceDN})
		t.Cleanup(func() { modifyGroup(t, srv, "admins", []string{aliceDN}, []string{bobDN}) })
		if _, err := login("alice", alicePW); err != nil {
			t.Fatalf("login after demotion: %v", err)
		}
		demoted, _ := svc.Store().UserByID(ctx, alice.ID)
		if demoted.Role != app.RoleOperator || demoted.SessionVersion <= alice.SessionVersion {
			t.Fatalf("after leaving admins: %+v, want operator with a bumped session version", demoted)
		}

		// Out of every mapped group: refused, and the account disabled.
		modifyGroup(t, srv, "devs", nil, []string{aliceDN})
		t.Cleanup(func() { modifyGroup(t, srv, "devs", []string{aliceDN}, nil) })
		_, err = login("alice", alicePW)
		if app.ErrCode(err) != app.EUNAUTHORIZED || !strings.Contains(app.ErrMessage(err), "no group") {
			t.Fatalf("login without groups: %v, want a no-group refusal", err)
		}
		disabled, _ := svc.Store().UserByID(ctx, alice.ID)
		if !disabled.Disabled || disabled.SessionVersion <= demoted.SessionVersion {
			t.Fatalf("after leaving every group: %+v, want disabled with a bumped session version", disabled)
		}

		// Locked in the directory (bob has the right password).
		lock := ldap.NewModifyRequest(bobDN, nil)
		lock.Replace("pwdAccountLockedTime", []string{"000001010000Z"})
		if err := srv.Admin(t).Modify(lock); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			unlock := ldap.NewModifyRequest(bobDN, nil)
			unlock.Delete("pwdAccountLockedTime", nil)
			if err := srv.Admin(t).Modify(unlock); err != nil {
				t.Error(err)
			}
		})
		var msgs []string
		for name, c := range map[string][2]string{"wrong password": {"alice", alicePW + "x"},
			"unknown user": {"nobody", alicePW}, "locked user": {"bob", srv.UserPasswords["bob"]}} {
			_, err := login(c[0], c[1])
			if app.ErrCode(err) != app.EUNAUTHORIZED {
				t.Fatalf("%s: %v, want EUNAUTHORIZED", name, err)
			}
			msgs = append(msgs, app.ErrMessage(err))
		}
		if msgs[0] != msgs[1] || msgs[1] != msgs[2] {
			t.Errorf("refusals differ: %q", msgs)
		}
		if _, err := svc.Store().UserByEmail(ctx, "bob@example.org"); app.ErrCode(err) != app.ENOTFOUND {
			t.Errorf("a locked directory user got an account: %v", err)
		}

		// The refusals are audited with their reason; no password is.
		recs, err := svc.Store().ListAudit(ctx, app.AuditFilter{Event: "auth.login_failed", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		reasons := map[string]bool{}
		for _, r := range recs {
			var pl struct{ Reason string }
			if err := json.Unmarshal(r.Payload, &pl); err != nil {
				t.Fatal(err)
			}
			reasons[pl.Reason] = true
			if strings.Contains(string(r.Payload), alicePW) || strings.Contains(string(r.Payload), srv.UserPasswords["bob"]) {
				t.Errorf("audit payload holds a password: %s", r.Payload)
			}
		}
		for _, want := range []string{"invalid_credentials", "disabled", "no_matching_group"} {
			if !reasons[want] {
				t.Errorf("no auth.login_failed with reason %s: %v", want, reasons)
			}
		}

		// A directory nobody answers at.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		closed := "ldap://" + ln.Addr().String()
		ln.Close()
		down, err := svc.CreateIdentityProvider(ctx, admin, app.IdentityProviderInput{Name: "Down", Type: ssoldap.Type,
			Config: ldapProviderConfig(t, closed, srv), Secrets: ldapSecrets(t, srv), DefaultRole: app.RoleViewer})
		if err != nil {
			t.Fatalf("create identity provider: %v", err)
		}
		_, err = svc.SSOPasswordLogin(ctx, app.SSOPasswordInput{ProviderID: down.ID, Username: "alice", Password: alicePW})
		if app.ErrCode(err) != app.EUNAVAILABLE {
			t.Fatalf("unreachable directory: %v, want EUNAVAILABLE", err)
		}
	})
}

func entryUUIDOf(t *testing.T, srv *ldaptest.Server, dn string) string {
	t.Helper()
	res, err := srv.Admin(t).Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases,
		1, 0, false, "(objectClass=*)", []string{"entryUUID"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("entryUUID of %s: %v", dn, err)
	}
	return res.Entries[0].GetAttributeValue("entryUUID")
}
