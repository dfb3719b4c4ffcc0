package web_test

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/aws/awstest"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

var connectorPageRe = regexp.MustCompile(`/connectors/\d+$`)

// shownTypes lists the connector types whose settings the create form
// shows, as the page's stylesheet renders them.
func shownTypes(ctx context.Context) (string, bool) {
	return peek(ctx, chromedp.Evaluate[string](`Array.from(document.querySelectorAll('[data-testid^="connector-fields-"]'))
		.filter(el => getComputedStyle(el).display !== 'none')
		.map(el => el.dataset.testid.replace('connector-fields-', '')).join(',')`))
}

// chooseType picks a connector type on the create form and waits until
// exactly its settings show.
func chooseType(t *testing.T, ctx context.Context, typ string) {
	t.Helper()
	step(t, ctx, "choose "+typ, chromedp.Click(byTestID("connector-type-"+typ)))
	waitFor(t, ctx, "only "+typ+" settings shown", func() bool {
		shown, ok := shownTypes(ctx)
		return ok && shown == typ
	})
}

// fill types values into the create form's settings of type typ.
func fill(t *testing.T, ctx context.Context, typ string, values [][2]string) {
	t.Helper()
	for _, kv := range values {
		step(t, ctx, "type "+kv[0], chromedp.SendKeys(byTestID("connector-field-"+typ+"-"+kv[0]), kv[1]))
	}
}

// landOnConnector waits for the browser to reach a connector's page and
// returns the text of its test result.
func landOnConnector(t *testing.T, ctx context.Context, result string) string {
	t.Helper()
	waitFor(t, ctx, "connector page", func() bool {
		loc, ok := peek(ctx, chromedp.Location())
		return ok && connectorPageRe.MatchString(loc)
	})
	step(t, ctx, "result "+result, chromedp.WaitVisible(byTestID(result)))
	return step(t, ctx, "result text", chromedp.Text(byTestID(result)))
}

// pictures takes the page's screenshots name-1440.png and name-390.png,
// scrolled to the top with nothing focused or hovered.
func pictures(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	step(t, ctx, "unfocus", chromedp.Evaluate[bool](`document.activeElement.blur(); window.scrollTo(0, 0); true`))
	step(t, ctx, "mouse away", chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, 0, 0))
	shotAt(t, ctx, 1440, dir, name+"-1440.png")
	shotAt(t, ctx, 390, dir, name+"-390.png")
}

// TestBrowserConnectorForm: a new admin adds connectors the way the console
// offers: one type choice (with a description each), only the chosen type's
// settings shown, no JSON box; "Create and test connection" lands on the
// connector's page with the test's result. An LDAP connector to a real
// slapd passes; one with a wrong bind password is created anyway and its
// page says why the test failed and how to fix it, and fixing it works; an
// AWS connector to the emulator passes; a refused form keeps its address
// and input. Screenshots: docs/screenshots/connector-new-{1440,390}.png
// and connector-test-failed-{1440,390}.png.
func TestBrowserConnectorForm(t *testing.T) {
	ctx := newBrowser(t)
	shots := screenshotDir(t)
	dir := ldaptest.Start(t)
	srv := awstest.Start(t)
	e := newEnv(t, envOpts{headers: true, aws: true, hosts: true})
	e.seedUser("admin@example.com", app.RoleAdmin)
	var mu sync.Mutex
	var problems []string
	watchProblems(t, ctx, "admin", &mu, &problems)
	browserLogin(t, ctx, e.srv.URL, "admin@example.com")

	ldapSettings := func(password string) [][2]string {
		return [][2]string{{"url", dir.URL}, {"bind_dn", dir.BindDN}, {"base_dn", dir.BaseDN},
			{"user_base", dir.UserBase}, {"group_base", dir.GroupBase}, {"bind_password", password}}
	}
	newForm := func() {
		t.Helper()
		step(t, ctx, "open connectors", chromedp.Click(byTestID("nav-connectors")))
		step(t, ctx, "new connector", chromedp.Click(byTestID("connector-new")))
		step(t, ctx, "form", chromedp.WaitVisible(byTestID("connector-type-choice")))
	}

	// The form: nothing chosen yet, so no settings show, only the hint;
	// every type is described; no JSON box anywhere.
	newForm()
	if shown, _ := shownTypes(ctx); shown != "" {
		t.Fatalf("settings shown before a type is chosen: %q", shown)
	}
	step(t, ctx, "hint", chromedp.WaitVisible(byTestID("connector-type-hint")))
	choice := step(t, ctx, "type choice", chromedp.Text(byTestID("connector-type-choice")))
	for _, typ := range []string{"agents", "aws", "ldap"} {
		spec, err := e.svc.Registry().ConfigSpec(typ)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(choice, spec.Label) || !strings.Contains(choice, spec.Description) {
			t.Errorf("the type choice does not describe %s: %q", typ, choice)
		}
	}
	if n := step(t, ctx, "json boxes", chromedp.Evaluate[int](`document.querySelectorAll('[name="config"], [name="credentials"], [name$=".config"]').length`)); n != 0 {
		t.Fatalf("%d raw JSON inputs on the form", n)
	}
	chooseType(t, ctx, "ldap")
	pictures(t, ctx, shots, "connector-new")
	noPageScroll(t, ctx, "new connector form")
	step(t, ctx, "desktop again", chromedp.EmulateViewport(1280, 860))

	// LDAP against slapd: created and tested in one step.
	fill(t, ctx, "ldap", ldapSettings(dir.BindPassword))
	step(t, ctx, "paste CA", chromedp.SetValue(byTestID("connector-field-ldap-ca_pem"), string(dir.CAPEM)))
	step(t, ctx, "name", chromedp.SendKeys(byTestID("connector-form-name"), "Directory"))
	step(t, ctx, "create ldap", chromedp.Click(byTestID("connector-form-submit")))
	if got := landOnConnector(t, ctx, "connector-test-ok"); !strings.Contains(got, "Connection test passed") || !strings.Contains(got, dir.BindDN) {
		t.Errorf("ldap test result: %q", got)
	}

	// A wrong bind password: the connector is created, its page says the
	// test failed, why, and how to fix it.
	newForm()
	chooseType(t, ctx, "ldap")
	fill(t, ctx, "ldap", ldapSettings("not-the-password"))
	step(t, ctx, "paste CA", chromedp.SetValue(byTestID("connector-field-ldap-ca_pem"), string(dir.CAPEM)))
	step(t, ctx, "name", chromedp.SendKeys(byTestID("connector-form-name"), "Directory two"))
	step(t, ctx, "create with wrong password", chromedp.Click(byTestID("connector-form-submit")))
	got := landOnConnector(t, ctx, "connector-test-failed")
	for _, want := range []string{"Connection test failed", "invalid credentials", "The connector is saved", "Test again"} {
		if !strings.Contains(got, want) {
			t.Errorf("failed test box lacks %q: %q", want, got)
		}
	}
	pictures(t, ctx, shots, "connector-test-failed")
	step(t, ctx, "desktop again", chromedp.EmulateViewport(1280, 860))
	if cs, _ := e.svc.ListConnectors(t.Context(), app.SystemActor("test")); len(cs) != 2 {
		t.Fatalf("connectors: %d, want 2 (the failed test keeps its connector)", len(cs))
	}
	// "Test again" runs the test again in place (htmx swaps a new box in).
	step(t, ctx, "mark box", chromedp.Evaluate[bool](`document.getElementById('connector-test').dataset.old = 'yes'; true`))
	step(t, ctx, "test again", chromedp.Click(byTestID("connector-test-again")))
	waitFor(t, ctx, "a new failed box", func() bool {
		fresh, ok := peek(ctx, chromedp.Evaluate[bool](`(() => { const b = document.getElementById('connector-test');
			return !!b && b.dataset.old !== 'yes' && !!b.querySelector('[data-testid="connector-test-failed"]'); })()`))
		return ok && fresh
	})
	// The fix: the right password in the edit form, then test.
	step(t, ctx, "right password", chromedp.SendKeys(byTestID("connector-field-ldap-bind_password"), dir.BindPassword))
	step(t, ctx, "save", chromedp.Click(byTestID("connector-form-submit")))
	waitText(t, ctx, "saved", "flash", "Connector Directory two saved.")
	step(t, ctx, "test", chromedp.Click(byTestID("connector-test")))
	step(t, ctx, "test passes", chromedp.WaitVisible(byTestID("connector-test-ok")))

	// AWS against the emulator.
	newForm()
	chooseType(t, ctx, "aws")
	fill(t, ctx, "aws", [][2]string{{"region", srv.Region}, {"endpoint_url", srv.URL},
		{"access_key_id", srv.ConnectorAccessKeyID}, {"secret_access_key", srv.ConnectorSecretAccessKey}})
	step(t, ctx, "name", chromedp.SendKeys(byTestID("connector-form-name"), "Account"))
	step(t, ctx, "create aws", chromedp.Click(byTestID("connector-form-submit")))
	if got := landOnConnector(t, ctx, "connector-test-ok"); !strings.Contains(got, "Connection test passed") || !strings.Contains(got, srv.ConnectorUserARN) {
		t.Errorf("aws test result: %q", got)
	}

	// A refused form: same address, the error, the type still chosen with
	// what was entered, the secret not echoed.
	newForm()
	chooseType(t, ctx, "aws")
	fill(t, ctx, "aws", [][2]string{{"region", srv.Region}, {"endpoint_url", srv.URL}, {"access_key_id", srv.ConnectorAccessKeyID},
		{"secret_access_key", srv.ConnectorSecretAccessKey}})
	step(t, ctx, "clear rotation", chromedp.SetValue(byTestID("connector-field-aws-rotation_days"), ""))
	fill(t, ctx, "aws", [][2]string{{"rotation_days", "5000"}})
	step(t, ctx, "name", chromedp.SendKeys(byTestID("connector-form-name"), "Account two"))
	step(t, ctx, "create refused", chromedp.Click(byTestID("connector-form-submit")))
	step(t, ctx, "error", chromedp.WaitVisible(byTestID("connector-form-error")))
	if loc := step(t, ctx, "location", chromedp.Location()); !strings.HasSuffix(loc, "/connectors/new") {
		t.Errorf("refused form at %s, want /connectors/new", loc)
	}
	if msg := step(t, ctx, "error text", chromedp.Text(byTestID("connector-form-error"))); !strings.Contains(msg, "rotation_days") {
		t.Errorf("error: %q", msg)
	}
	if shown, _ := shownTypes(ctx); shown != "aws" {
		t.Errorf("after the error the form shows %q, want aws", shown)
	}
	for id, want := range map[string]string{"connector-field-aws-region": srv.Region, "connector-field-aws-endpoint_url": srv.URL,
		"connector-field-aws-rotation_days": "5000", "connector-form-name": "Account two", "connector-field-aws-secret_access_key": ""} {
		if v := step(t, ctx, "value "+id, chromedp.Value(byTestID(id))); v != want {
			t.Errorf("%s = %q, want %q", id, v, want)
		}
	}
	html := step(t, ctx, "html", chromedp.OuterHTML(chromedp.CSS("html")))
	if strings.Contains(html, srv.ConnectorSecretAccessKey) || strings.Contains(html, dir.BindPassword) {
		t.Fatal("a secret is in the page")
	}
	requireNoProblems(t, &mu, &problems, "400", e.srv.URL+"/connectors/new")
}
