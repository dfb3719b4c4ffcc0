package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
	"github.com/nexplane/nexplane/store/storetest"
)

// Two requests using one invitation at once: exactly one sets the password.
func TestInvitationIsSingleUseUnderConcurrency(t *testing.T) {
	storetest.MustOpenBoth(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		svc := app.NewService(app.Config{Store: db, Hasher: auth.NewHasher(4, 2)})
		for i := range 10 {
			res, err := svc.InviteUser(ctx, app.SystemActor("test"), app.InviteInput{Email: "race" + string(rune('a'+i)) + "@example.com", Role: "viewer"})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for j := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[j] = svc.AcceptPasswordLink(ctx, app.AcceptLinkInput{Token: res.Token, Purpose: app.LinkInvite,
						Password: "racing-passphrase-number-" + string(rune('0'+j))})
				}()
			}
			wg.Wait()
			ok := 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case app.ErrCode(err) != app.ENOTFOUND:
					t.Fatalf("round %d: %v", i, err)
				}
			}
			if ok != 1 {
				t.Fatalf("round %d: %d acceptances succeeded (%v)", i, ok, errs)
			}
		}
	})
}

// Expired password links go with the periodic session purge; live ones stay.
func TestPurgeRemovesExpiredPasswordLinks(t *testing.T) {
	clock := testkit.NewClock(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	k := testkit.NewService(t, testkit.Options{Clock: clock})
	ctx := context.Background()
	admin := testkit.MustCreateUser(t, k.Service, "admin@example.com", app.RoleAdmin)
	op := testkit.MustCreateUser(t, k.Service, "op@example.com", app.RoleOperator)
	inv, err := k.Service.InviteUser(ctx, app.UserActor(admin), app.InviteInput{Email: "new@example.com", Role: "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Service.RequestPasswordReset(ctx, app.UserActor(admin), op.ID, false); err != nil {
		t.Fatal(err)
	}
	clock.Advance(app.ResetLinkTTL)
	if _, err := k.Service.PurgeExpiredSessions(ctx); err != nil {
		t.Fatal(err)
	}
	if l, err := k.DB.PasswordLinksOfUser(ctx, op.ID); err != nil || len(l) != 0 {
		t.Errorf("expired reset link kept: %+v, %v", l, err)
	}
	if l, err := k.DB.PasswordLinksOfUser(ctx, inv.User.ID); err != nil || len(l) != 1 {
		t.Errorf("live invitation purged: %+v, %v", l, err)
	}
}

// Only the user themself or an admin may list or end sessions.
func TestSessionRule(t *testing.T) {
	k := testkit.NewService(t, testkit.Options{})
	ctx := context.Background()
	admin := testkit.MustCreateUser(t, k.Service, "admin@example.com", app.RoleAdmin)
	op := testkit.MustCreateUser(t, k.Service, "op@example.com", app.RoleOperator)
	viewer := testkit.MustCreateUser(t, k.Service, "viewer@example.com", app.RoleViewer)
	if _, err := k.Service.Login(ctx, app.LoginInput{Email: op.Email, Password: testkit.TestPassword, Console: true, ClientAddr: "192.0.2.1", UserAgent: "UA"}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Service.ListSessions(ctx, app.UserActor(viewer), op.ID, ""); app.ErrCode(err) != app.EFORBIDDEN {
		t.Errorf("viewer lists op's sessions: %v", err)
	}
	for _, who := range []*app.User{op, admin} {
		list, err := k.Service.ListSessions(ctx, app.UserActor(who), op.ID, "")
		if err != nil || len(list) != 1 || list[0].ClientAddr != "192.0.2.1" || list[0].UserAgent != "UA" {
			t.Fatalf("%s lists op's sessions: %+v, %v", who.Email, list, err)
		}
	}
	list, _ := k.Service.ListSessions(ctx, app.UserActor(op), op.ID, "")
	if err := k.Service.EndSession(ctx, app.UserActor(viewer), op.ID, list[0].Handle); app.ErrCode(err) != app.EFORBIDDEN {
		t.Errorf("viewer ends op's session: %v", err)
	}
	if err := k.Service.EndSession(ctx, app.UserActor(admin), op.ID, list[0].Handle); err != nil {
		t.Errorf("admin ends op's session: %v", err)
	}
	if err := k.Service.EndSession(ctx, app.UserActor(admin), op.ID, list[0].Handle); app.ErrCode(err) != app.ENOTFOUND {
		t.Errorf("ending twice: %v", err)
	}
}

// A reset link proves the password step only: a user with a second factor
// is not logged in by it, and logs in with the new password and the factor.
func TestResetLinkDoesNotSkipTheSecondFactor(t *testing.T) {
	k := testkit.NewService(t, testkit.Options{})
	ctx := t.Context()
	admin := app.UserActor(testkit.MustCreateUser(t, k.Service, "admin@example.com", app.RoleAdmin))
	for _, withMFA := range []bool{false, true} {
		email := "plain@example.com"
		if withMFA {
			email = "mfa@example.com"
		}
		u := testkit.MustCreateUser(t, k.Service, email, app.RoleOperator)
		if withMFA {
			enr, err := k.Service.BeginTOTPEnrollment(ctx, app.UserActor(u))
			if err != nil {
				t.Fatal(err)
			}
			code, err := totp.GenerateCode(enr.Secret, k.Clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := k.Service.ConfirmTOTPEnrollment(ctx, app.UserActor(u), code); err != nil {
				t.Fatal(err)
			}
		}
		link, err := k.Service.RequestPasswordReset(ctx, admin, u.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		res, err := k.Service.AcceptPasswordLink(ctx, app.AcceptLinkInput{Token: link.Token, Purpose: app.LinkReset,
			Password: "a brand new passphrase for " + email})
		if err != nil {
			t.Fatal(err)
		}
		if got := res.SessionToken != ""; got == withMFA {
			t.Errorf("mfa %v: logged in by the link = %v", withMFA, got)
		}
	}
}
