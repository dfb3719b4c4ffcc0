package app_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/internal/testkit"
)

// consoleSession logs u in to the console and returns its actor, the id of
// its session row and its cookie token.
func consoleSession(t *testing.T, svc *app.Service, u *app.User) (app.Actor, string, string) {
	t.Helper()
	ctx := context.Background()
	res, err := svc.Login(ctx, app.LoginInput{Email: u.Email, Password: testkit.TestPassword, ClientAddr: "127.0.0.1", Console: true})
	if err != nil {
		t.Fatal(err)
	}
	actor, sess, err := svc.ResolveSession(ctx, res.SessionToken)
	if err != nil {
		t.Fatal(err)
	}
	return actor, sess.ID, res.SessionToken
}

// TestRevealPages: a stashed secret is shown once, to the user and console
// session that made it, within RevealPageTTL; the row holds neither the id
// of its address nor the secret in clear; expired rows are pruned and a
// session's end takes its pages with it.
func TestRevealPages(t *testing.T) {
	testkit.BothDrivers(t, func(t *testing.T, driver string) {
		ctx := context.Background()
		clock := testkit.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
		k := testkit.NewService(t, testkit.Options{Clock: clock, Driver: driver})
		svc := k.Service
		alice := testkit.MustCreateUser(t, svc, "alice@example.com", app.RoleAdmin)
		bob := testkit.MustCreateUser(t, svc, "bob@example.com", app.RoleAdmin)
		aliceActor, aliceSess, _ := consoleSession(t, svc, alice)
		_, aliceOther, _ := consoleSession(t, svc, alice)
		bobActor, bobSess, bobToken := consoleSession(t, svc, bob)

		const secret = "nxp_the-secret-value-1234567890"
		content := app.OneTimeSecret{Kind: app.RevealAPIToken, Title: "API token ci", Secret: secret,
			Codes: []string{"code-one"}, Facts: []app.RevealFact{{Label: "Role", Value: "viewer"}}, Back: "/account/tokens"}
		if got := fmt.Sprint(content); got != "[redacted]" {
			t.Fatalf("fmt prints %q", got)
		}
		id, err := svc.StashRevealPage(ctx, aliceActor, aliceSess, content)
		if err != nil {
			t.Fatal(err)
		}

		// The raw row: found only by the id's SHA-256, owner and session
		// recorded, the content sealed.
		sum := sha256.Sum256([]byte(id))
		hash := hex.EncodeToString(sum[:])
		raw := rawRevealPage(t, k, hash)
		if raw == nil || raw.ID == id || raw.UserID != alice.ID || raw.SessionID != aliceSess ||
			!raw.ExpiresAt.Equal(clock.Now().Add(app.RevealPageTTL)) {
			t.Fatalf("row %+v", raw)
		}
		for _, clear := range []string{secret, "code-one", id} {
			if strings.Contains(string(raw.Sealed), clear) {
				t.Fatalf("%q is in the row in clear", clear)
			}
		}

		// Anyone but alice in this session gets "gone", and nothing is
		// erased by trying.
		gone := []struct {
			name    string
			actor   app.Actor
			session string
			id      string
		}{
			{"other user", bobActor, bobSess, id},
			{"other user with the session id", bobActor, aliceSess, id},
			{"other session of the user", aliceActor, aliceOther, id},
			{"no session", aliceActor, "", id},
			{"made-up id", aliceActor, aliceSess, strings.Repeat("A", 43)},
			{"malformed id", aliceActor, aliceSess, "x"},
		}
		for _, tc := range gone {
			if _, err := svc.TakeRevealPage(ctx, tc.actor, tc.session, tc.id); app.ErrCode(err) != app.ENOTFOUND ||
				!strings.Contains(app.ErrMessage(err), "already shown or has expired") {
				t.Errorf("%s: %v", tc.name, err)
			}
		}

		got, err := svc.TakeRevealPage(ctx, aliceActor, aliceSess, id)
		if err != nil || !reflect.DeepEqual(*got, content) {
			t.Fatalf("take: %+v, %v", got, err)
		}
		if _, err := svc.TakeRevealPage(ctx, aliceActor, aliceSess, id); app.ErrCode(err) != app.ENOTFOUND {
			t.Fatalf("second take: %v", err)
		}
		if rawRevealPage(t, k, hash) != nil {
			t.Fatal("a shown page is still stored")
		}

		// Expiry by the injected clock: not shown at RevealPageTTL, and
		// pruned by the next stash.
		late, err := svc.StashRevealPage(ctx, aliceActor, aliceSess, content)
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(app.RevealPageTTL)
		if _, err := svc.TakeRevealPage(ctx, aliceActor, aliceSess, late); app.ErrCode(err) != app.ENOTFOUND {
			t.Fatalf("expired take: %v", err)
		}
		lateSum := sha256.Sum256([]byte(late))
		if rawRevealPage(t, k, hex.EncodeToString(lateSum[:])) == nil {
			t.Fatal("a refused take erased the page")
		}
		if _, err := svc.StashRevealPage(ctx, bobActor, bobSess, content); err != nil {
			t.Fatal(err)
		}
		if rawRevealPage(t, k, hex.EncodeToString(lateSum[:])) != nil {
			t.Fatal("an expired page was not pruned")
		}

		// Logging out ends the session and its pages.
		pending, err := svc.StashRevealPage(ctx, bobActor, bobSess, content)
		if err != nil {
			t.Fatal(err)
		}
		if err := svc.Logout(ctx, bobActor, bobToken); err != nil {
			t.Fatal(err)
		}
		pendingSum := sha256.Sum256([]byte(pending))
		if rawRevealPage(t, k, hex.EncodeToString(pendingSum[:])) != nil {
			t.Fatal("a page outlived its session")
		}

		// Only console sessions of users get pages.
		if _, err := svc.StashRevealPage(ctx, app.SystemActor("test"), aliceSess, content); app.ErrCode(err) != app.EFORBIDDEN {
			t.Fatalf("system actor: %v", err)
		}
	})
}

// rawRevealPage reads the stored row by the hash of its id; nil when there
// is none.
func rawRevealPage(t *testing.T, k *testkit.Env, hash string) *app.RevealPage {
	t.Helper()
	var p *app.RevealPage
	err := k.DB.WithTx(context.Background(), func(tx app.Tx) error {
		var err error
		p, err = tx.RevealPageByID(context.Background(), hash)
		return err
	})
	if app.ErrCode(err) == app.ENOTFOUND {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}
