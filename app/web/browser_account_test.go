package web_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/nexplane/nexplane/app"
)

// accountScreenshotPath shows /account with two sessions, for a human.
const accountScreenshotPath = "/tmp/nexplane-account.png"

// TestBrowserInvitationAndPasswordChange walks an invitation from the
// admin's form to the invitee's first login, then the invitee's sessions
// and password change on /account, in headless Chromium.
func TestBrowserInvitationAndPasswordChange(t *testing.T) {
	ctx := newBrowser(t)
	e := newEnv(t, envOpts{headers: true})
	e.seedUser("admin@example.com", app.RoleAdmin)
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}

	// The admin invites someone and sees the link once.
	step(t, ctx, "open login", chromedp.Navigate(e.srv.URL+"/login"))
	step(t, ctx, "type email", chromedp.SendKeys(byTestID("login-email"), "admin@example.com"))
	step(t, ctx, "type password", chromedp.SendKeys(byTestID("login-password"), testPassword))
	step(t, ctx, "submit login", chromedp.Click(byTestID("login-submit")))
	step(t, ctx, "dashboard", chromedp.WaitVisible(byTestID("dashboard")))
	step(t, ctx, "open users", chromedp.Click(byTestID("nav-users")))
	step(t, ctx, "type invitee", chromedp.SendKeys(byTestID("user-create-email"), "invitee@example.com"))
	step(t, ctx, "pick role", chromedp.SetValue(byTestID("user-create-role"), "approver"))
	step(t, ctx, "invite", chromedp.Click(byTestID("user-create-submit")))
	link := strings.TrimSpace(step(t, ctx, "invitation link", chromedp.Text(byTestID("link-reveal-url"))))
	if !strings.HasPrefix(link, e.srv.URL+"/invite/") {
		t.Fatalf("invitation link %q", link)
	}
	step(t, ctx, "log out admin", chromedp.Click(byTestID("logout")))
	step(t, ctx, "login page", chromedp.WaitVisible(byTestID("login-form")))

	// The invitee cannot log in before accepting.
	if _, err := e.svc.Login(context.Background(), app.LoginInput{Email: "invitee@example.com", Password: testPassword}); app.ErrCode(err) != app.EUNAUTHORIZED {
		t.Fatalf("login before accepting: %v", err)
	}

	// The invitee opens the link, chooses a password and is logged in.
	const chosen = "invitee-chose-this-passphrase-3"
	step(t, ctx, "open invitation", chromedp.Navigate(link))
	if who := step(t, ctx, "invitation email", chromedp.Text(byTestID("set-password-email"))); who != "invitee@example.com" {
		t.Fatalf("invitation page names %q", who)
	}
	step(t, ctx, "type mismatched", chromedp.SendKeys(byTestID("set-password"), chosen))
	step(t, ctx, "type confirm wrong", chromedp.SendKeys(byTestID("set-password-confirm"), chosen+"x"))
	step(t, ctx, "submit mismatched", chromedp.Click(byTestID("set-password-submit")))
	step(t, ctx, "mismatch error", chromedp.WaitVisible(byTestID("set-password-error")))
	step(t, ctx, "type password", chromedp.SendKeys(byTestID("set-password"), chosen))
	step(t, ctx, "type confirm", chromedp.SendKeys(byTestID("set-password-confirm"), chosen))
	step(t, ctx, "accept", chromedp.Click(byTestID("set-password-submit")))
	step(t, ctx, "invitee dashboard", chromedp.WaitVisible(byTestID("dashboard")))
	if who := step(t, ctx, "current user", chromedp.Text(byTestID("current-user-email"))); who != "invitee@example.com" {
		t.Fatalf("logged in as %q", who)
	}
	// The link was single-use.
	step(t, ctx, "reopen invitation", chromedp.Navigate(link))
	step(t, ctx, "dead link", chromedp.WaitVisible(byTestID("link-invalid")))

	// Another console session of the invitee, elsewhere: listed and ended
	// from /account.
	other, err := e.svc.Login(context.Background(), app.LoginInput{Email: "invitee@example.com", Password: chosen,
		ClientAddr: "198.51.100.4", UserAgent: "OtherBrowser/1.0", Console: true})
	if err != nil {
		t.Fatal(err)
	}
	step(t, ctx, "open account", chromedp.Navigate(e.srv.URL+"/account"))
	rows := step(t, ctx, "sessions", chromedp.Text(byTestID("sessions-table")))
	if !strings.Contains(rows, "198.51.100.4") || !strings.Contains(rows, "OtherBrowser/1.0") || !strings.Contains(rows, "this session") {
		t.Fatalf("sessions table:\n%s", rows)
	}
	if png := step(t, ctx, "account screenshot", chromedp.FullScreenshot(100)); os.WriteFile(accountScreenshotPath, png, 0o644) != nil {
		t.Log("could not write the account screenshot")
	}
	step(t, ctx, "end other session", chromedp.Click(byTestID("session-end")))
	step(t, ctx, "ended flash", chromedp.WaitVisible(byTestID("flash")))
	if rows := step(t, ctx, "sessions after end", chromedp.Text(byTestID("sessions-table"))); strings.Contains(rows, "198.51.100.4") {
		t.Fatalf("ended session still listed:\n%s", rows)
	}
	if _, _, err := e.svc.ResolveSession(context.Background(), other.SessionToken); app.ErrCode(err) != app.EUNAUTHORIZED {
		t.Fatalf("ended session still resolves: %v", err)
	}

	// Password change: the wrong current password is refused; the right
	// one changes it, ends the other sessions and keeps this one.
	third, err := e.svc.Login(context.Background(), app.LoginInput{Email: "invitee@example.com", Password: chosen, Console: true})
	if err != nil {
		t.Fatal(err)
	}
	const next = "invitee-second-passphrase-8"
	// A fresh load, so that no field of the page before the session's end
	// is typed into while it is replaced.
	step(t, ctx, "open account", chromedp.Navigate(e.srv.URL+"/account"))
	step(t, ctx, "type wrong current", chromedp.SendKeys(byTestID("password-current"), "not-the-password-at-all"))
	step(t, ctx, "type new", chromedp.SendKeys(byTestID("password-new"), next))
	step(t, ctx, "type confirm new", chromedp.SendKeys(byTestID("password-confirm"), next))
	step(t, ctx, "submit wrong", chromedp.Click(byTestID("password-submit")))
	if msg := step(t, ctx, "wrong current error", chromedp.Text(byTestID("flash-error"))); !strings.Contains(msg, "current password is incorrect") {
		t.Fatalf("error %q", msg)
	}
	step(t, ctx, "type current", chromedp.SendKeys(byTestID("password-current"), chosen))
	step(t, ctx, "type new again", chromedp.SendKeys(byTestID("password-new"), next))
	step(t, ctx, "type confirm again", chromedp.SendKeys(byTestID("password-confirm"), next))
	step(t, ctx, "submit change", chromedp.Click(byTestID("password-submit")))
	if msg := step(t, ctx, "changed flash", chromedp.Text(byTestID("flash"))); !strings.Contains(msg, "password was changed") {
		t.Fatalf("flash %q", msg)
	}
	// Still logged in here, on a new session.
	step(t, ctx, "reload account", chromedp.Navigate(e.srv.URL+"/account"))
	if who := step(t, ctx, "account email", chromedp.Text(byTestID("account-email"))); who != "invitee@example.com" {
		t.Fatalf("account of %q", who)
	}
	if _, _, err := e.svc.ResolveSession(context.Background(), third.SessionToken); app.ErrCode(err) != app.EUNAUTHORIZED {
		t.Fatalf("other session survived the change: %v", err)
	}
	if _, err := e.svc.Login(context.Background(), app.LoginInput{Email: "invitee@example.com", Password: chosen}); app.ErrCode(err) != app.EUNAUTHORIZED {
		t.Fatalf("old password still works: %v", err)
	}
	if _, err := e.svc.Login(context.Background(), app.LoginInput{Email: "invitee@example.com", Password: next}); err != nil {
		t.Fatalf("new password: %v", err)
	}
}
