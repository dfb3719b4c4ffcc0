package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// TestOpRowsOnDemand: the change form starts with one operation row; "Add
// operation" answers htmx with the next row and the next index out of band;
// without JavaScript, add and remove post the form back and it is drawn
// again with the rows that are left, numbered from 0; rows removed in the
// browser leave gaps that the server reads past.
func TestOpRowsOnDemand(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	e.seedUser("ops@example.com", app.RoleOperator)
	conn := e.ldapConnector(dir, 1)
	c := e.client()
	e.login(c, "ops@example.com")
	cid := strconv.FormatInt(conn.ID, 10)

	// The htmx fragment of "Add operation".
	r := e.get(c, "/changes/oprow?add=1&connector="+cid+"&rows=3", "HX-Request", "true")
	requireContains(t, r, `data-testid="op-row-3"`, `id="op3-type"`, "autofocus",
		`id="change-form-rows" name="rows" value="4" hx-swap-oob="true"`)
	if strings.Contains(r.body, "<html") {
		t.Fatal("row fragment is a whole page")
	}
	if r := e.get(c, "/changes/oprow?add=1&connector="+cid+"&rows=50", "HX-Request", "true"); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("row 51: %d", r.StatusCode)
	} else {
		requireContains(t, r, "at most 50 operations")
	}

	base := func(kv ...string) url.Values {
		f := url.Values{"connector_id": {cid}, "title": {"T"}}
		for i := 0; i < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	tests := []struct {
		name       string
		form       url.Values
		want, gone []string
	}{
		{"add appends an empty row", base("rows", "1", "op0_type", "ldap.user.disable", "op0_uid", "bob", "add", "1"),
			[]string{`data-testid="op-row-1"`, `name="op0_uid" value="bob"`, `name="rows" value="2"`}, []string{`data-testid="op-row-2"`}},
		{"add with an empty row keeps one", base("rows", "1", "add", "1"),
			[]string{`data-testid="op-row-0"`, `name="rows" value="1"`}, []string{`data-testid="op-row-1"`}},
		{"remove drops the row and renumbers", base("rows", "3", "op0_type", "ldap.user.disable", "op0_uid", "alice",
			"op1_type", "ldap.user.enable", "op1_uid", "bob", "op2_type", "ldap.user.disable", "op2_uid", "carol", "remove", "1"),
			[]string{`name="op0_uid" value="alice"`, `name="op1_uid" value="carol"`, `name="rows" value="2"`},
			[]string{`value="bob"`, `data-testid="op-row-2"`}},
		{"removing the last row leaves one to start from", base("rows", "1", "op0_type", "ldap.user.disable", "remove", "0"),
			[]string{`data-testid="op-row-0"`, `name="rows" value="1"`}, []string{`name="op0_uid"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(c, "/changes/new", tc.form)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("status %d", r.StatusCode)
			}
			requireContains(t, r, tc.want...)
			for _, g := range tc.gone {
				if strings.Contains(r.body, g) {
					t.Errorf("form still has %s", g)
				}
			}
		})
	}

	// Rows removed in the browser leave gaps (op1 is gone): the request
	// holds the rows that are left, in order.
	path := e.post(c, "/changes/new", base("rows", "3", "op0_type", "ldap.user.disable", "op0_uid", "alice",
		"op2_type", "ldap.user.enable", "op2_uid", "carol")).Header.Get("Location")
	created, err := e.svc.GetChange(t.Context(), app.SystemActor("test"), changeIDOf(t, path))
	if err != nil || len(created.Operations) != 2 || created.Operations[1].Type != "ldap.user.enable" {
		t.Fatalf("created with a gap: %+v, %v", created, err)
	}
}
