package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// ldapConnector adds a connector to dir, a real slapd, through the service.
func (e *env) ldapConnector(dir *ldaptest.Server, approvals int) *app.Connector {
	e.t.Helper()
	c, err := e.svc.CreateConnector(context.Background(), app.SystemActor("test"), app.ConnectorInput{
		Name: "Directory", Type: "ldap", Config: dir.ConfigJSON(), Credentials: dir.CredentialsJSON(),
		RequiredApprovals: &approvals})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// userDN is the DN of a user of the test directory.
func userDN(uid string) string { return "uid=" + uid + "," + ldaptest.UserBase }

var changeLocRe = regexp.MustCompile(`^/changes/(\d+)$`)

// op is one operation row as the change form posts it.
type op struct {
	typ    string
	fields map[string]string
}

// uidOp is an operation whose only parameter is a uid.
func uidOp(typ, uid string) op { return op{typ, map[string]string{"uid": uid}} }

// opsForm adds operation rows to a change form.
func opsForm(form url.Values, ops ...op) url.Values {
	for i, o := range ops {
		form.Set("op"+strconv.Itoa(i)+"_type", o.typ)
		for k, v := range o.fields {
			form.Set("op"+strconv.Itoa(i)+"_"+k, v)
		}
	}
	return form
}

// createChange posts the change form and returns the new request's path.
func (e *env) createChange(c *http.Client, connectorID int64, title string, ops ...op) string {
	e.t.Helper()
	form := opsForm(url.Values{"connector_id": {strconv.FormatInt(connectorID, 10)}, "title": {title},
		"description": {"because"}, "rows": {"5"}}, ops...)
	r := e.post(c, "/changes/new", form)
	if r.StatusCode != http.StatusSeeOther || !changeLocRe.MatchString(r.Header.Get("Location")) {
		e.t.Fatalf("create change: %d %q %s", r.StatusCode, r.Header.Get("Location"), r.body)
	}
	return r.Header.Get("Location")
}

// runChange takes a request through the console from draft to execution
// and waits for the engine to finish it in state want.
func (e *env) runChange(author, approver *http.Client, connectorID int64, title string, want app.ChangeState, ops ...op) (string, *app.ChangeRequest) {
	e.t.Helper()
	path := e.createChange(author, connectorID, title, ops...)
	e.mustPost(author, path, "submit", nil)
	e.mustPost(approver, path, "approve", url.Values{"comment": {"ok"}})
	e.mustPost(author, path, "execute", nil)
	return path, e.waitState(changeIDOf(e.t, path), want)
}

// mustPost posts and wants the redirect back to path with a success
// flash (a refusal redirects there too, with an error flash). It returns
// the page, which has taken the flash.
func (e *env) mustPost(c *http.Client, path, action string, form url.Values) response {
	e.t.Helper()
	r := e.post(c, path+"/"+action, form)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != path {
		e.t.Fatalf("%s %s: %d %q\n%s", action, path, r.StatusCode, r.Header.Get("Location"), r.body)
	}
	page := e.get(c, path)
	if strings.Contains(page.body, `data-testid="flash-error"`) || !strings.Contains(page.body, `data-testid="flash"`) {
		e.t.Fatalf("%s %s was refused:\n%s", action, path, page.body)
	}
	return page
}

func changeIDOf(t *testing.T, path string) int64 {
	t.Helper()
	id, err := strconv.ParseInt(strings.TrimPrefix(path, "/changes/"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitState waits for the engine to bring a request to a state.
func (e *env) waitState(id int64, want app.ChangeState) *app.ChangeRequest {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := e.svc.GetChange(context.Background(), app.SystemActor("test"), id)
		if err != nil {
			e.t.Fatal(err)
		}
		if c.State == want {
			return c
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("change %d is %s, want %s", id, c.State, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testIDs(body string) map[string]bool {
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`data-testid="([a-z0-9-]+)"`).FindAllStringSubmatch(body, -1) {
		out[m[1]] = true
	}
	return out
}

// requireButtons checks exactly which action buttons a page offers.
func requireButtons(t *testing.T, r response, want ...string) {
	t.Helper()
	all := []string{"change-edit", "change-submit", "change-approve", "change-reject", "change-cancel",
		"change-execute", "change-emergency-execute", "change-resume", "change-review", "change-op-reveal"}
	ids := testIDs(r.body)
	wanted := map[string]bool{}
	for _, w := range want {
		wanted[w] = true
	}
	for _, b := range all {
		if ids[b] != wanted[b] {
			t.Errorf("button %s shown=%v, want %v", b, ids[b], wanted[b])
		}
	}
}

// requireLocked checks in the directory whether uid can still bind with
// its seeded password.
func requireLocked(t *testing.T, dir *ldaptest.Server, uid string, locked bool) {
	t.Helper()
	err := dir.CanBind(userDN(uid), dir.UserPasswords[uid])
	if locked && err == nil {
		t.Fatalf("%s can still bind", uid)
	}
	if !locked && err != nil {
		t.Fatalf("%s cannot bind: %v", uid, err)
	}
}

// groupMembers reads a group's member DNs from the directory.
func groupMembers(t *testing.T, dir *ldaptest.Server, cn string) []string {
	t.Helper()
	res, err := dir.Admin(t).Search(goldap.NewSearchRequest("cn="+cn+","+dir.GroupBase, goldap.ScopeBaseObject,
		goldap.NeverDerefAliases, 0, 0, false, "(objectClass=*)", []string{"member"}, nil))
	if err != nil || len(res.Entries) != 1 {
		t.Fatalf("search group %s: %v", cn, err)
	}
	return res.Entries[0].GetAttributeValues("member")
}

var revealedRe = regexp.MustCompile(`data-testid="reveal-secret">([A-Za-z0-9]+)<`)
