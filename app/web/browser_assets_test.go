package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/chromedp/chromedp"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/aws/awstest"
)

// screenshotDir is where a browser test saves its pictures: the README's
// docs/screenshots with NEXPLANE_SCREENSHOTS=write, else a temporary
// directory, so ordinary runs leave the work tree clean.
func screenshotDir(t *testing.T) string { return screenshotsOut(t) }

// TestBrowserRevokeKey: an AWS account in the emulator (kumo behind
// awstest's shim, which serves UpdateAccessKey and the other IAM actions
// kumo lacks) has a user "ci" with a key that is old and never used, and
// someone granted ci AdministratorAccess outside Nexplane. The admin sees
// the findings and the out-of-band change on the dashboard, opens the
// key's asset page, clicks "Revoke now", lands on the emergency change
// request and watches it succeed; IAM then has the key inactive.
func TestBrowserRevokeKey(t *testing.T) {
	ctx := newBrowser(t)
	shots := screenshotDir(t)
	dashboardScreenshot := filepath.Join(shots, "dashboard.png")
	assetRevokeScreenshot := filepath.Join(shots, "asset-revoke.png")
	srv := awstest.Start(t)
	e := newEnv(t, envOpts{headers: true, aws: true})
	e.seedUser("admin@example.com", app.RoleAdmin)
	bg := context.Background()
	sys := app.SystemActor("test")
	one := 1
	conn, err := e.svc.CreateConnector(bg, sys, app.ConnectorInput{Name: "prod-account", Type: "aws",
		Config: srv.ConfigJSON(), Credentials: srv.CredentialsJSON(), RequiredApprovals: &one})
	if err != nil {
		t.Fatal(err)
	}
	srv.CreateUser(t, "ci")
	key, secret := srv.CreateAccessKey(t, "ci")
	syncNow := func() *app.SyncResult {
		t.Helper()
		res, err := e.svc.SyncConnector(bg, app.SystemActor("scheduler"), conn.ID)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	syncNow() // the baseline
	// Out of band: admin rights granted directly in IAM. Then 120 days pass
	// (before anyone logs in, so no session outlives them): the key is old
	// and was never used.
	srv.AttachUserPolicy(t, "ci", "arn:aws:iam::aws:policy/AdministratorAccess")
	e.clock.Advance(120 * 24 * time.Hour)
	if res := syncNow(); res.Drift != 1 || res.FindingsOpen < 3 {
		t.Fatalf("sync: %+v", res)
	}

	var mu sync.Mutex
	var problems []string
	watchProblems(t, ctx, "admin", &mu, &problems)
	browserLogin(t, ctx, e.srv.URL, "admin@example.com")
	step(t, ctx, "findings card", chromedp.WaitVisible(byTestID("findings-table")))
	step(t, ctx, "drift card", chromedp.WaitVisible(byTestID("drift-table")))
	drift := step(t, ctx, "drift text", chromedp.Text(byTestID("drift-table")))
	if !strings.Contains(drift, "ci") || !strings.Contains(drift, "changed") {
		t.Errorf("drift card: %q", drift)
	}
	if err := os.MkdirAll(filepath.Dir(dashboardScreenshot), 0o755); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, dashboardScreenshot)

	// Find the key in the inventory through the search form (htmx).
	step(t, ctx, "open assets", chromedp.Click(byTestID("nav-assets")))
	step(t, ctx, "assets table", chromedp.WaitVisible(byTestID("assets-table")))
	step(t, ctx, "pick kind", chromedp.SetValue(byTestID("assets-filter-kind"), "aws.iam.access_key"))
	step(t, ctx, "type search", chromedp.SendKeys(byTestID("assets-filter-q"), key))
	step(t, ctx, "search", chromedp.Click(byTestID("assets-filter-submit")))
	waitFor(t, ctx, "filtered assets", func() bool {
		loc, ok1 := peek(ctx, chromedp.Location())
		txt, ok2 := peek(ctx, chromedp.Text(byTestID("asset-results")))
		return ok1 && ok2 && strings.Contains(loc, "kind=aws.iam.access_key") && strings.Contains(txt, "ci/"+key) &&
			strings.Count(txt, "aws.iam.access_key") == 1
	})
	step(t, ctx, "open key", chromedp.Click(chromedp.CSS(`[data-testid="asset-row-name"] a`)))
	step(t, ctx, "asset page", chromedp.WaitVisible(byTestID("asset-revoke-submit")))
	findings := step(t, ctx, "findings", chromedp.Text(byTestID("asset-findings")))
	for _, rule := range []string{"aws.access_key.too_old", "aws.access_key.unused"} {
		if !strings.Contains(findings, rule) {
			t.Errorf("asset findings lack %s:\n%s", rule, findings)
		}
	}
	if label := step(t, ctx, "revoke label", chromedp.Text(byTestID("asset-revoke-submit"))); label != "Revoke now (runs immediately as an emergency change)" {
		t.Errorf("revoke button: %q", label)
	}
	step(t, ctx, "reason", chromedp.SendKeys(byTestID("asset-revoke-reason"), "key leaked in a public repository"))
	// Typing scrolled the page; back to the top with nothing focused, or
	// the full-page picture keeps stale tiles below the window.
	step(t, ctx, "unscroll", chromedp.Evaluate[bool](`document.activeElement.blur(); window.scrollTo(0, 0); true`))
	screenshot(t, ctx, assetRevokeScreenshot)

	start := time.Now()
	step(t, ctx, "revoke now", chromedp.Click(byTestID("asset-revoke-submit")))
	step(t, ctx, "change page", chromedp.WaitVisible(byTestID("change-live")))
	if loc := step(t, ctx, "change url", chromedp.Location()); !strings.Contains(loc, "/changes/") {
		t.Fatalf("revoke landed on %s", loc)
	}
	waitText(t, ctx, "succeeded", "change-status", "succeeded")
	t.Logf("revoke now: change request succeeded %v after the click", time.Since(start))
	if title := step(t, ctx, "title", chromedp.Text(byTestID("change-title"))); title != "Revoke ci/"+key {
		t.Errorf("change title %q", title)
	}

	out, err := srv.Admin().ListAccessKeys(bg, &iam.ListAccessKeysInput{UserName: awssdk.String("ci")})
	if err != nil {
		t.Fatal(err)
	}
	status := ""
	for _, k := range out.AccessKeyMetadata {
		if awssdk.ToString(k.AccessKeyId) == key {
			status = string(k.Status)
		}
	}
	if status != "Inactive" {
		t.Fatalf("key %s is %q in IAM after revoke now", key, status)
	}
	html := step(t, ctx, "change html", chromedp.OuterHTML(chromedp.CSS("html")))
	if strings.Contains(html, secret) || strings.Contains(html, srv.ConnectorSecretAccessKey) {
		t.Fatal("a secret access key is in the page")
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser reported: %s", p)
	}
}
