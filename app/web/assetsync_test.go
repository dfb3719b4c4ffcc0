package web_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	goldap "github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// TestSyncThisAssetFromAssetPage: operators and admins get "Sync this
// asset"; it re-reads the entry from slapd and lands back on the asset page
// with a flash saying what it found. Approvers and viewers get no button
// and are refused; a directory that is down is a readable refusal.
func TestSyncThisAssetFromAssetPage(t *testing.T) {
	e := newInventoryEnv(t)
	e.syncPage()
	bob := "/assets/" + strconv.FormatInt(e.assetOf("ldap.user", "bob"), 10)

	for _, c := range []*http.Client{e.admin, e.ops} {
		requireContains(t, e.get(c, bob), `data-testid="asset-sync"`, `action="`+bob+`/sync"`)
	}
	for _, c := range []*http.Client{e.appr, e.viewr} {
		if strings.Contains(e.get(c, bob).body, "asset-sync") {
			t.Error("sync offered to a role that may not sync")
		}
		// Refused: back to the asset page (post/redirect/get) saying why.
		e.refused(t, c, e.post(c, bob+"/sync", nil), bob, "Only operators and admins may sync an asset.")
	}

	e.rootModify(userDN("bob"), func(r *goldap.ModifyRequest) { r.Replace("cn", []string{"Robert Roe"}) })
	if strings.Contains(e.get(e.ops, bob).body, "Robert Roe") {
		t.Fatal("the change shows before any sync")
	}
	r := e.post(e.ops, bob+"/sync", nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != bob {
		t.Fatalf("sync: %d %q\n%s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	requireContains(t, e.get(e.ops, bob), `data-testid="flash"`, "changed on the target outside Nexplane", "Robert Roe")
	// Once: a reload shows the page without the flash.
	if strings.Contains(e.get(e.ops, bob).body, `data-testid="flash"`) {
		t.Error("the flash shows twice")
	}
	r = e.post(e.ops, bob+"/sync", nil)
	requireContains(t, e.get(e.ops, r.Header.Get("Location")), "Synced: the asset is unchanged on the target.")

	e.dir.Stop()
	// Unreachable: back to the asset page, which still shows, with the reason.
	page := e.refused(t, e.ops, e.post(e.ops, bob+"/sync", nil), bob, `data-testid="asset-name"`)
	if page.StatusCode != http.StatusOK {
		t.Errorf("asset page with slapd down: %d", page.StatusCode)
	}
}

// TestBrowserSyncThisAsset: an operator clicks "Sync this asset" on an
// entry changed in the directory and lands back on the asset page, which
// shows the flash and the new value.
func TestBrowserSyncThisAsset(t *testing.T) {
	ctx := newBrowser(t)
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{headers: true})
	e.seedUser("ops@example.com", app.RoleOperator)
	conn := e.ldapConnector(dir, 1)
	if _, err := e.svc.SyncConnector(context.Background(), app.SystemActor("scheduler"), conn.ID); err != nil {
		t.Fatal(err)
	}
	req := goldap.NewModifyRequest(userDN("bob"), nil)
	req.Replace("mail", []string{"robert@example.org"})
	if err := dir.Admin(t).Modify(req); err != nil {
		t.Fatal(err)
	}
	page, err := e.svc.ListAssets(context.Background(), app.SystemActor("test"), app.AssetFilter{Kind: "ldap.user", Text: "bob"}, "")
	if err != nil || len(page.Assets) != 1 {
		t.Fatalf("bob: %v %v", page, err)
	}
	bob := e.srv.URL + "/assets/" + strconv.FormatInt(page.Assets[0].ID, 10)

	var mu sync.Mutex
	var problems []string
	watchProblems(t, ctx, "ops", &mu, &problems)
	browserLogin(t, ctx, e.srv.URL, "ops@example.com")
	step(t, ctx, "open bob", chromedp.Navigate(bob))
	if attrs := step(t, ctx, "attributes", chromedp.Text(byTestID("asset-attributes"))); strings.Contains(attrs, "robert@example.org") {
		t.Fatal("the change shows before the sync")
	}
	step(t, ctx, "sync", chromedp.Click(byTestID("asset-sync")))
	waitFor(t, ctx, "flash", func() bool {
		txt, ok := peek(ctx, chromedp.Text(byTestID("flash")))
		return ok && strings.Contains(txt, "outside Nexplane")
	})
	if loc := step(t, ctx, "location", chromedp.Location()); loc != bob {
		t.Errorf("landed on %s, want %s", loc, bob)
	}
	if attrs := step(t, ctx, "attributes after", chromedp.Text(byTestID("asset-attributes"))); !strings.Contains(attrs, "robert@example.org") {
		t.Errorf("attributes after the sync: %s", attrs)
	}

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser reported: %s", p)
	}
}
