package web_test

import (
	"cmp"
	"context"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"
	"github.com/pquerna/otp/totp"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

// prgReq is one POST of a case: by c to path with form, on the console e
// (nil: the world's). For a refusal, back is where the browser must be
// sent with an error flash ("" for a form that re-renders at its own
// address with the reason).
type prgReq struct {
	e    *env
	c    *http.Client
	path string
	form url.Values
	back string
}

// prgCase drives one console POST route: ok makes a request app accepts,
// refuse one it refuses.
type prgCase struct {
	ok, refuse func(t *testing.T) prgReq
}

// prgExempt are the POST routes outside the PRG table, with the reason.
var prgExempt = map[string]string{
	"POST /login/passkey/begin":                       "JSON (WebAuthn ceremony, XHR)",
	"POST /login/passkey/finish":                      "JSON (WebAuthn ceremony, XHR)",
	"POST /login/mfa/passkey/begin":                   "JSON (WebAuthn ceremony, XHR)",
	"POST /login/mfa/passkey/finish":                  "JSON (WebAuthn ceremony, XHR)",
	"POST /account/passkeys/begin":                    "JSON (WebAuthn ceremony, XHR)",
	"POST /account/passkeys/finish":                   "JSON (WebAuthn ceremony, XHR)",
	"POST /account/passkeys/reauth/begin":             "JSON (WebAuthn ceremony, XHR)",
	"POST /account/passkeys/{id}/delete-with-passkey": "JSON (WebAuthn ceremony, XHR)",
	"POST /settings/identity-providers/{id}/try":      "starts an off-site sign-in: a continue page, as CSP form-action 'self' forbids redirecting a form off-site (refusals: TestIdentityProviderPRG)",
}

// prgWorld is one console with a real slapd behind an LDAP connector, an
// agent CA with an enrolled agent, and a logged-in client per role.
type prgWorld struct {
	*inventoryEnv
	agent     *app.Agent
	n         int
	inAdmins  bool   // bob, by drift()
	ldapLogin string // by ldapIdP()
}

func newPRGWorld(t *testing.T) *prgWorld {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{agents: true, agentURL: testAgentURL})
	ie := &inventoryEnv{env: e, dir: dir}
	for _, u := range []struct {
		email string
		role  app.Role
		c     **http.Client
	}{
		{"admin@example.com", app.RoleAdmin, &ie.admin}, {"ops@example.com", app.RoleOperator, &ie.ops},
		{"appr@example.com", app.RoleApprover, &ie.appr}, {"viewer@example.com", app.RoleViewer, &ie.viewr},
	} {
		e.seedUser(u.email, u.role)
		*u.c = e.client()
		e.login(*u.c, u.email)
	}
	ie.conn = e.ldapConnector(dir, 1)
	ie.cid = "/connectors/" + strconv.FormatInt(ie.conn.ID, 10)
	return &prgWorld{inventoryEnv: ie, agent: e.enrollAgent("web-01.example.org", nil)}
}

// person seeds a fresh user with role and logs a client in as them.
func (w *prgWorld) person(role app.Role) (*app.User, *http.Client) {
	w.n++
	u := w.seedUser("p"+strconv.Itoa(w.n)+"@example.com", role)
	c := w.client()
	w.login(c, u.Email)
	return u, c
}

// change makes a change request by ops and takes it to state through the
// console; "interrupted" is written as a fixture.
func (w *prgWorld) change(t *testing.T, state app.ChangeState) string {
	t.Helper()
	if state == app.StateInterrupted {
		ops, err := w.svc.Store().UserByEmail(context.Background(), "ops@example.com")
		if err != nil {
			t.Fatal(err)
		}
		c := &app.ChangeRequest{Title: "fixture", ConnectorID: w.conn.ID, CreatedBy: ops.ID, CreatedByEmail: ops.Email,
			State: state, Revision: 1, InterruptCause: "server shut down",
			Operations: []app.ChangeOperation{{Type: "ldap.user.disable", Status: app.OpPending, Params: json.RawMessage(`{"uid":"alice"}`)}}}
		if err := w.db.WithTx(context.Background(), func(tx app.Tx) error { return tx.CreateChangeRequest(context.Background(), c) }); err != nil {
			t.Fatal(err)
		}
		return changePath(c.ID)
	}
	path := w.createChange(w.ops, w.conn.ID, "PRG "+string(state), uidOp("ldap.user.disable", "alice"))
	if state == app.StateDraft {
		return path
	}
	w.mustPost(w.ops, path, "submit", nil)
	if state == app.StateApproved {
		w.mustPost(w.appr, path, "approve", url.Values{"comment": {"ok"}})
	}
	return path
}

// withField is form f with field k set to v, or removed when v is empty.
func withField(f url.Values, k, v string) url.Values {
	out := url.Values{}
	for key, vs := range f {
		out[key] = vs
	}
	if v == "" {
		out.Del(k)
	} else {
		out.Set(k, v)
	}
	return out
}

func changePath(id int64) string { return "/changes/" + strconv.FormatInt(id, 10) }

// TestEveryConsolePOSTFollowsPRG walks every console POST route: accepted,
// it answers 303 to a page that answers 200; refused, it sends the browser
// back to the form's page with an error flash, or re-renders a form that
// posts to its own address with the reason.
func TestEveryConsolePOSTFollowsPRG(t *testing.T) {
	w := newPRGWorld(t)
	ctx := context.Background()
	cases := w.prgCases(ctx)
	for _, route := range slices.Sorted(func(yield func(string) bool) {
		for k := range cases {
			if !yield(k) {
				return
			}
		}
	}) {
		tc := cases[route]
		t.Run(strings.TrimPrefix(route, "POST "), func(t *testing.T) {
			if tc.refuse != nil {
				q := tc.refuse(t)
				e := forTest(cmp.Or(q.e, w.env), t)
				r := e.post(q.c, q.path, q.form)
				if q.back != "" {
					e.refused(t, q.c, r, q.back)
				} else {
					if r.StatusCode < 400 || r.StatusCode >= 500 {
						t.Fatalf("refused %s: %d, want 4xx on the form's own address\n%s", q.path, r.StatusCode, r.body)
					}
					requireContains(t, r, `role="alert"`)
				}
			}
			if tc.ok != nil {
				q := tc.ok(t)
				e := forTest(cmp.Or(q.e, w.env), t)
				r := e.post(q.c, q.path, q.form)
				loc := r.Header.Get("Location")
				if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/") {
					t.Fatalf("%s: %d %q, want 303 to a console page\n%s", q.path, r.StatusCode, loc, r.body)
				}
				if page := e.get(q.c, loc); page.StatusCode != http.StatusOK {
					t.Fatalf("%s: GET %s after the POST: %d\n%s", q.path, loc, page.StatusCode, page.body)
				}
			}
		})
	}
}

// forTest is e reporting to t (a subtest), so that a helper's Fatal stops
// that subtest only.
func forTest(e *env, t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func (w *prgWorld) prgCases(ctx context.Context) map[string]prgCase {
	code := func(t *testing.T, secret string) string {
		w.clock.Advance(30 * time.Second) // a fresh window: the last code is spent
		c, err := totp.GenerateCode(secret, w.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// changeAction: ok by who on a request in state; refused as refuser.
	changeAction := func(action string, state app.ChangeState, who func() *http.Client, form url.Values,
		refuser func() *http.Client, refuseState app.ChangeState) prgCase {
		return prgCase{
			ok: func(t *testing.T) prgReq {
				return prgReq{c: who(), path: w.change(t, state) + "/" + action, form: form}
			},
			refuse: func(t *testing.T) prgReq {
				p := w.change(t, refuseState)
				return prgReq{c: refuser(), path: p + "/" + action, form: form, back: p}
			},
		}
	}
	admin := func() *http.Client { return w.admin }
	ops := func() *http.Client { return w.ops }
	appr := func() *http.Client { return w.appr }
	viewer := func() *http.Client { return w.viewr }
	userPath := func(u *app.User) string { return "/users/" + strconv.FormatInt(u.ID, 10) }
	firstEnd := func(t *testing.T, c *http.Client, page string) string {
		ends := endURLs(w.get(c, page))
		if len(ends) == 0 {
			t.Fatalf("no session to end on %s", page)
		}
		return ends[0]
	}
	emergencyDone := func(t *testing.T) string {
		p := w.change(t, app.StateSubmitted)
		w.mustPost(w.admin, p, "emergency", url.Values{"justification": {"production is down right now"}})
		w.waitState(changeIDOf(t, p), app.StateSucceeded)
		return p
	}
	token := func(t *testing.T, c *http.Client, base string) string {
		r := w.post(c, base, url.Values{"name": {"t" + strconv.Itoa(w.n)}, "role": {"viewer"}})
		w.n++
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("token: %d", r.StatusCode)
		}
		owner := mustUserIDOf(t, w.env, c, base)
		ts, err := w.db.ListAPITokens(ctx, owner)
		if err != nil || len(ts) == 0 {
			t.Fatalf("tokens: %v", err)
		}
		return strconv.FormatInt(ts[0].ID, 10)
	}
	serviceAccount := func(t *testing.T) string {
		w.n++
		r := w.post(w.admin, "/service-accounts", url.Values{"name": {"bot-" + strconv.Itoa(w.n)}, "role": {"viewer"}})
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("service account: %d", r.StatusCode)
		}
		return strings.TrimSuffix(r.Header.Get("Location"), "/tokens")
	}
	link := func(t *testing.T, purpose app.LinkPurpose) string {
		w.n++
		adminUser, err := w.svc.Store().UserByEmail(ctx, "admin@example.com")
		if err != nil {
			t.Fatal(err)
		}
		res, err := w.svc.InviteUser(ctx, app.UserActor(adminUser), app.InviteInput{Email: "inv" + strconv.Itoa(w.n) + "@example.com", Role: "viewer"})
		if err == nil && purpose == app.LinkReset {
			res, err = w.svc.RequestPasswordReset(ctx, app.UserActor(adminUser), res.User.ID, false)
		}
		if err != nil {
			t.Fatal(err)
		}
		return res.Path()
	}
	drift := func(t *testing.T) string {
		w.syncPage()
		// Out of band, add bob to the admins group or take him out again
		// (no change request of the table touches groups).
		w.inAdmins = !w.inAdmins
		w.rootModify("cn=admins,"+ldaptest.GroupBase, func(r *goldap.ModifyRequest) {
			if w.inAdmins {
				r.Add("member", []string{userDN("bob")})
			} else {
				r.Delete("member", []string{userDN("bob")})
			}
		})
		w.syncPage()
		ds, err := w.svc.ListDrift(ctx, app.SystemActor("test"), app.DriftFilter{OpenOnly: true})
		if err != nil || len(ds) == 0 {
			t.Fatalf("no drift: %v", err)
		}
		return "/drift/" + strconv.FormatInt(ds[0].ID, 10)
	}
	asset := func(t *testing.T, kind, name string) string {
		w.syncPage()
		return "/assets/" + strconv.FormatInt(w.assetOf(kind, name), 10)
	}
	// newConnector creates a connector of its own through the form (one
	// the other cases do not depend on) and returns its page.
	newConnector := func(t *testing.T) string {
		w.n++
		r := w.post(w.admin, "/connectors/new", ldapForm("prg-"+strconv.Itoa(w.n)))
		if r.StatusCode != http.StatusSeeOther || !connectorLocRe.MatchString(r.Header.Get("Location")) {
			t.Fatalf("new connector: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		return r.Header.Get("Location")
	}
	return map[string]prgCase{
		"POST /connectors/new": {
			ok: func(t *testing.T) prgReq {
				w.n++
				return prgReq{c: w.admin, path: "/connectors/new", form: ldapForm("prg-" + strconv.Itoa(w.n))}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: "/connectors/new", form: withField(ldapForm("prg-bad"), "ldap.base_dn", "")}
			},
		},
		"POST /connectors/{id}": {
			ok: func(t *testing.T) prgReq {
				p := newConnector(t)
				return prgReq{c: w.admin, path: p, form: withField(ldapForm("prg-renamed-"+strconv.Itoa(w.n)), "ldap.bind_password", "")}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: newConnector(t), form: withField(ldapForm("prg-x"), "ldap.base_dn", "")}
			},
		},
		"POST /connectors/{id}/test": {
			ok: func(t *testing.T) prgReq { return prgReq{c: w.admin, path: w.cid + "/test"} },
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.viewr, path: w.cid + "/test", back: w.cid}
			},
		},
		"POST /connectors/{id}/delete": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: newConnector(t) + "/delete", form: url.Values{"confirm": {"yes"}}}
			},
			refuse: func(t *testing.T) prgReq {
				w.change(t, app.StateDraft) // a request refers to it: it stays
				return prgReq{c: w.admin, path: w.cid + "/delete", form: url.Values{"confirm": {"yes"}}, back: w.cid}
			},
		},
		"POST /assets/{id}/sync": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.ops, path: asset(t, "ldap.user", "bob") + "/sync"}
			},
			refuse: func(t *testing.T) prgReq {
				p := asset(t, "ldap.user", "bob")
				return prgReq{c: w.viewr, path: p + "/sync", back: p}
			},
		},
		"POST /login": {
			ok: func(t *testing.T) prgReq {
				u, _ := w.person(app.RoleViewer)
				return prgReq{c: w.client(), path: "/login", form: url.Values{"email": {u.Email}, "password": {testPassword}}}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.client(), path: "/login", form: url.Values{"email": {"viewer@example.com"}, "password": {"wrong password here"}}}
			},
		},
		"POST /settings/identity-providers/new": {
			ok: func(t *testing.T) prgReq {
				w.n++
				return prgReq{c: w.admin, path: "/settings/identity-providers/new", form: w.ldapIdPForm("Directory " + strconv.Itoa(w.n))}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: "/settings/identity-providers/new", form: withField(w.ldapIdPForm("Bad"), "rules", "admins")}
			},
		},
		"POST /settings/identity-providers/{id}": {
			ok: func(t *testing.T) prgReq {
				p := w.newIdP(t)
				return prgReq{c: w.admin, path: p, form: withField(w.ldapIdPForm("Renamed "+strconv.Itoa(w.n)), "bind_password", "")}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: w.newIdP(t), form: withField(w.ldapIdPForm("Bad"), "rules", "admins")}
			},
		},
		"POST /settings/identity-providers/{id}/enabled": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: w.newIdP(t) + "/enabled", form: url.Values{"enabled": {"false"}}}
			},
			refuse: func(t *testing.T) prgReq {
				p := w.newIdP(t)
				return prgReq{c: w.ops, path: p + "/enabled", form: url.Values{"enabled": {"false"}}, back: p}
			},
		},
		"POST /settings/identity-providers/{id}/delete": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: w.newIdP(t) + "/delete"}
			},
			refuse: func(t *testing.T) prgReq {
				p := w.newIdP(t)
				return prgReq{c: w.ops, path: p + "/delete", back: p}
			},
		},
		"POST /settings/local-login": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: "/settings/local-login", form: url.Values{"disabled": {"false"}}}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.ops, path: "/settings/local-login", form: url.Values{"disabled": {"false"}}, back: "/settings/identity-providers"}
			},
		},
		"POST /users/{id}/sign-in": {
			ok: func(t *testing.T) prgReq {
				u, _ := w.person(app.RoleViewer)
				return prgReq{c: w.admin, path: userPath(u) + "/sign-in", form: url.Values{"local_login_disabled": {"true"}}}
			},
			refuse: func(t *testing.T) prgReq {
				u, _ := w.person(app.RoleViewer)
				return prgReq{c: w.ops, path: userPath(u) + "/sign-in", form: url.Values{"local_login_disabled": {"true"}}, back: userPath(u)}
			},
		},
		"POST /login/sso/{id}": {
			// The directory (LDAP) form; the redirect providers' button is
			// TestBrowserSSO's.
			ok: func(t *testing.T) prgReq {
				// A person of their own: the change requests of the table
				// lock alice and revoke bob.
				uid := w.directoryPerson(t)
				return prgReq{c: w.client(), path: w.ldapIdP(t), form: url.Values{"username": {uid}, "password": {directoryPassword}}}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.client(), path: w.ldapIdP(t), form: url.Values{"username": {"alice"}, "password": {"wrong password here"}}}
			},
		},
		"POST /logout": {ok: func(t *testing.T) prgReq {
			_, c := w.person(app.RoleViewer)
			return prgReq{c: c, path: "/logout"}
		}},
		"POST /login/mfa": {
			ok: func(t *testing.T) prgReq {
				u, _ := w.person(app.RoleViewer)
				secret := w.enrol(u)
				c := w.client()
				w.post(c, "/login", url.Values{"email": {u.Email}, "password": {testPassword}})
				return prgReq{c: c, path: "/login/mfa", form: url.Values{"code": {code(t, secret)}}}
			},
			refuse: func(t *testing.T) prgReq {
				u, _ := w.person(app.RoleViewer)
				w.enrol(u)
				c := w.client()
				w.post(c, "/login", url.Values{"email": {u.Email}, "password": {testPassword}})
				return prgReq{c: c, path: "/login/mfa", form: url.Values{"code": {"000000"}}}
			},
		},
		"POST /account/mfa/enroll": {
			ok: func(t *testing.T) prgReq {
				_, c := w.person(app.RoleViewer)
				return prgReq{c: c, path: "/account/mfa/enroll"}
			},
			refuse: func(t *testing.T) prgReq {
				u, c := w.person(app.RoleViewer)
				w.enrol(u) // already on
				return prgReq{c: c, path: "/account/mfa/enroll", back: "/account/mfa"}
			},
		},
		"POST /account/mfa/confirm": {
			ok: func(t *testing.T) prgReq {
				u, c := w.person(app.RoleViewer)
				enr, err := w.svc.BeginTOTPEnrollment(ctx, app.UserActor(u))
				if err != nil {
					t.Fatal(err)
				}
				return prgReq{c: c, path: "/account/mfa/confirm", form: url.Values{"code": {code(t, enr.Secret)}}}
			},
			refuse: func(t *testing.T) prgReq {
				u, c := w.person(app.RoleViewer)
				if _, err := w.svc.BeginTOTPEnrollment(ctx, app.UserActor(u)); err != nil {
					t.Fatal(err)
				}
				return prgReq{c: c, path: "/account/mfa/confirm", form: url.Values{"code": {"000000"}}, back: "/account/mfa"}
			},
		},
		"POST /account/mfa/recovery-codes": {
			ok: func(t *testing.T) prgReq {
				u, c := w.person(app.RoleViewer)
				secret := w.enrol(u)
				return prgReq{c: c, path: "/account/mfa/recovery-codes", form: url.Values{"code": {code(t, secret)}}}
			},
			refuse: func(t *testing.T) prgReq {
				u, c := w.person(app.RoleViewer)
				w.enrol(u)
				return prgReq{c: c, path: "/account/mfa/recovery-codes", form: url.Values{"code": {"000000"}}, back: "/account/mfa"}
			},
		},
		"POST /account/mfa/disable": {
			ok: func(t *testing.T) prgReq {
				u, c := w.person(app.RoleViewer)
				secret := w.enrol(u)
				return prgReq{c: c, path: "/account/mfa/disable", form: url.Values{"password": {testPassword}, "code": {code(t, secret)}}}
			},
			refuse: func(t *testing.T) prgReq {
				u, c := w.person(app.RoleViewer)
				secret := w.enrol(u)
				return prgReq{c: c, path: "/account/mfa/disable", form: url.Values{"password": {"not the password"}, "code": {code(t, secret)}},
					back: "/account/mfa"}
			},
		},
		"POST /account/passkeys/{id}/delete": {
			ok: func(t *testing.T) prgReq {
				u, c := w.person(app.RoleViewer)
				return prgReq{c: c, path: "/account/passkeys/" + w.passkey(t, u) + "/delete", form: url.Values{"password": {testPassword}}}
			},
			refuse: func(t *testing.T) prgReq {
				u, c := w.person(app.RoleViewer)
				return prgReq{c: c, path: "/account/passkeys/" + w.passkey(t, u) + "/delete", form: url.Values{"password": {"not the password"}},
					back: "/account/passkeys"}
			},
		},
		"POST /settings": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: "/settings", form: url.Values{"mfa_required": {"off"}}}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: "/settings", form: url.Values{"mfa_required": {"sometimes"}}}
			},
		},
		"POST /setup": {
			ok: func(t *testing.T) prgReq {
				e := newEnv(t, envOpts{setup: true})
				return prgReq{e: e, c: e.client(), path: "/setup", form: url.Values{"token": {e.gate.Token()}, "email": {"first@example.com"},
					"password": {testPassword}, "confirm": {testPassword}}}
			},
			refuse: func(t *testing.T) prgReq {
				e := newEnv(t, envOpts{setup: true})
				return prgReq{e: e, c: e.client(), path: "/setup", form: url.Values{"token": {e.gate.Token()}, "email": {"first@example.com"},
					"password": {testPassword}, "confirm": {"something else entirely"}}}
			},
		},
		"POST /invite/{token}": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.client(), path: link(t, app.LinkInvite), form: url.Values{"password": {testPassword}, "confirm": {testPassword}}}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.client(), path: link(t, app.LinkInvite), form: url.Values{"password": {testPassword}, "confirm": {"other"}}}
			},
		},
		"POST /reset/{token}": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.client(), path: link(t, app.LinkReset), form: url.Values{"password": {testPassword}, "confirm": {testPassword}}}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.client(), path: link(t, app.LinkReset), form: url.Values{"password": {"short"}, "confirm": {"short"}}}
			},
		},

		"POST /changes/new": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.ops, path: "/changes/new", form: opsForm(url.Values{"connector_id": {strconv.FormatInt(w.conn.ID, 10)},
					"title": {"New"}}, uidOp("ldap.user.disable", "alice"))}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.ops, path: "/changes/new", form: opsForm(url.Values{"connector_id": {strconv.FormatInt(w.conn.ID, 10)}},
					uidOp("ldap.user.disable", "alice"))}
			},
		},
		"POST /changes/{id}/edit": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.ops, path: w.change(t, app.StateDraft) + "/edit", form: opsForm(url.Values{"title": {"Edited"}},
					uidOp("ldap.user.disable", "bob"))}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.ops, path: w.change(t, app.StateDraft) + "/edit", form: opsForm(url.Values{"title": {""}},
					uidOp("ldap.user.disable", "bob"))}
			},
		},
		"POST /changes/{id}/operations/{op}/reveal": {
			ok: func(t *testing.T) prgReq {
				p, c := w.runChange(w.ops, w.appr, w.conn.ID, "Reset", app.StateSucceeded, uidOp("ldap.user.reset_password", "bob"))
				return prgReq{c: w.ops, path: p + "/operations/" + strconv.FormatInt(c.Operations[0].ID, 10) + "/reveal"}
			},
			refuse: func(t *testing.T) prgReq {
				p, c := w.runChange(w.ops, w.appr, w.conn.ID, "Reset", app.StateSucceeded, uidOp("ldap.user.reset_password", "bob"))
				return prgReq{c: w.appr, path: p + "/operations/" + strconv.FormatInt(c.Operations[0].ID, 10) + "/reveal", back: p}
			},
		},
		"POST /changes/{id}/submit": changeAction("submit", app.StateDraft, ops, nil, viewer, app.StateDraft),
		"POST /changes/{id}/approve": changeAction("approve", app.StateSubmitted, appr, url.Values{"comment": {"ok"}},
			ops, app.StateSubmitted),
		"POST /changes/{id}/reject": changeAction("reject", app.StateSubmitted, appr, url.Values{"comment": {"no"}},
			appr, app.StateDraft),
		"POST /changes/{id}/cancel":  changeAction("cancel", app.StateDraft, ops, nil, appr, app.StateDraft),
		"POST /changes/{id}/execute": changeAction("execute", app.StateApproved, ops, nil, ops, app.StateSubmitted),
		"POST /changes/{id}/emergency": changeAction("emergency", app.StateSubmitted, admin,
			url.Values{"justification": {"production is down right now"}}, admin, app.StateDraft),
		"POST /changes/{id}/resume":        changeAction("resume", app.StateInterrupted, ops, nil, ops, app.StateDraft),
		"POST /changes/{id}/rerun-unknown": changeAction("rerun-unknown", app.StateInterrupted, ops, nil, viewer, app.StateInterrupted),
		"POST /changes/{id}/review": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.appr, path: emergencyDone(t) + "/review", form: url.Values{"comment": {"was justified"}}}
			},
			refuse: func(t *testing.T) prgReq {
				p := emergencyDone(t)
				return prgReq{c: w.admin, path: p + "/review", form: url.Values{"comment": {"my own"}}, back: p}
			},
		},

		"POST /assets/{id}/revoke": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.ops, path: asset(t, "ldap.user", "bob") + "/revoke", form: url.Values{"reason": {"left"}}}
			},
			refuse: func(t *testing.T) prgReq {
				p := asset(t, "ldap.user", "bob")
				return prgReq{c: w.viewr, path: p + "/revoke", form: url.Values{"reason": {"left"}}, back: p}
			},
		},
		"POST /drift/{id}/acknowledge": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.ops, path: drift(t) + "/acknowledge", form: url.Values{"comment": {"seen"}}}
			},
			refuse: func(t *testing.T) prgReq {
				p := drift(t)
				return prgReq{c: w.viewr, path: p + "/acknowledge", form: url.Values{"comment": {"seen"}}, back: p}
			},
		},
		"POST /connectors/{id}/sync": {
			ok: func(t *testing.T) prgReq { return prgReq{c: w.admin, path: w.cid + "/sync"} },
		},

		"POST /agents": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: "/agents", form: url.Values{"labels": {"env=prod"}, "ttl": {"1h"}}}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: "/agents", form: url.Values{"labels": {"not a label"}, "ttl": {"1h"}}}
			},
		},
		"POST /agents/{id}/revoke": {
			ok: func(t *testing.T) prgReq {
				ag := w.enrollAgent("host-"+strconv.Itoa(w.n)+".example.org", nil)
				w.n++
				return prgReq{c: w.admin, path: "/agents/" + ag.ID + "/revoke", form: url.Values{"confirm": {"yes"}}}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.ops, path: "/agents/" + w.agent.ID + "/revoke", form: url.Values{"confirm": {"yes"}}, back: "/agents/" + w.agent.ID}
			},
		},

		"POST /users": {
			ok: func(t *testing.T) prgReq {
				w.n++
				return prgReq{c: w.admin, path: "/users", form: url.Values{"email": {"new" + strconv.Itoa(w.n) + "@example.com"}, "role": {"viewer"}}}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: "/users", form: url.Values{"email": {"viewer@example.com"}, "role": {"viewer"}}}
			},
		},
		"POST /users/{id}": {
			ok: func(t *testing.T) prgReq {
				u, _ := w.person(app.RoleViewer)
				return prgReq{c: w.admin, path: userPath(u), form: url.Values{"role": {"approver"}}}
			},
			refuse: func(t *testing.T) prgReq {
				u, _ := w.person(app.RoleViewer)
				return prgReq{c: w.admin, path: userPath(u), form: url.Values{"role": {"emperor"}}, back: "/users"}
			},
		},
		"POST /users/{id}/login-throttle": {
			ok: func(t *testing.T) prgReq {
				u, _ := w.person(app.RoleViewer)
				return prgReq{c: w.admin, path: userPath(u) + "/login-throttle"}
			},
			refuse: func(t *testing.T) prgReq {
				u, _ := w.person(app.RoleViewer)
				return prgReq{c: w.ops, path: userPath(u) + "/login-throttle", back: "/users"}
			},
		},
		"POST /users/{id}/reset-password": {
			ok: func(t *testing.T) prgReq {
				u, _ := w.person(app.RoleViewer)
				return prgReq{c: w.admin, path: userPath(u) + "/reset-password"}
			},
			refuse: func(t *testing.T) prgReq {
				u, _ := w.person(app.RoleViewer)
				return prgReq{c: w.ops, path: userPath(u) + "/reset-password", back: userPath(u)}
			},
		},
		"POST /users/{id}/sessions/{handle}/end": {
			ok: func(t *testing.T) prgReq {
				u, _ := w.person(app.RoleViewer)
				return prgReq{c: w.admin, path: firstEnd(t, w.admin, userPath(u))}
			},
			refuse: func(t *testing.T) prgReq {
				u, _ := w.person(app.RoleViewer)
				end := firstEnd(t, w.admin, userPath(u))
				return prgReq{c: w.ops, path: end, back: userPath(u)}
			},
		},
		"POST /account/password": {
			ok: func(t *testing.T) prgReq {
				_, c := w.person(app.RoleViewer)
				return prgReq{c: c, path: "/account/password", form: url.Values{"current_password": {testPassword},
					"new_password": {"a-brand-new-passphrase-9"}, "confirm": {"a-brand-new-passphrase-9"}}}
			},
			refuse: func(t *testing.T) prgReq {
				_, c := w.person(app.RoleViewer)
				return prgReq{c: c, path: "/account/password", form: url.Values{"current_password": {testPassword},
					"new_password": {"a-brand-new-passphrase-9"}, "confirm": {"something else"}}, back: "/account"}
			},
		},
		"POST /account/sessions/{handle}/end": {
			ok: func(t *testing.T) prgReq {
				u, c := w.person(app.RoleViewer)
				other := w.client()
				w.login(other, u.Email)
				return prgReq{c: c, path: firstEnd(t, c, "/account")}
			},
			refuse: func(t *testing.T) prgReq {
				_, c := w.person(app.RoleViewer)
				return prgReq{c: c, path: "/account/sessions/0000000000000000/end", back: "/account"}
			},
		},
		"POST /account/tokens": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.ops, path: "/account/tokens", form: url.Values{"name": {"laptop-" + strconv.Itoa(w.n)}, "role": {"viewer"}}}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.ops, path: "/account/tokens", form: url.Values{"name": {"x"}, "role": {"admin"}}}
			},
		},
		"POST /account/tokens/{tid}/revoke": {
			ok: func(t *testing.T) prgReq {
				_, c := w.person(app.RoleViewer)
				return prgReq{c: c, path: "/account/tokens/" + token(t, c, "/account/tokens") + "/revoke"}
			},
			refuse: func(t *testing.T) prgReq {
				_, c := w.person(app.RoleViewer)
				tid := token(t, c, "/account/tokens")
				_, other := w.person(app.RoleViewer)
				return prgReq{c: other, path: "/account/tokens/" + tid + "/revoke", back: "/account/tokens"}
			},
		},
		"POST /service-accounts": {
			ok: func(t *testing.T) prgReq {
				w.n++
				return prgReq{c: w.admin, path: "/service-accounts", form: url.Values{"name": {"svc-" + strconv.Itoa(w.n)}, "role": {"viewer"}}}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: "/service-accounts", form: url.Values{"name": {"has@sign"}, "role": {"viewer"}}}
			},
		},
		"POST /users/{id}/tokens": {
			ok: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: serviceAccount(t) + "/tokens", form: url.Values{"name": {"ci"}, "role": {"viewer"}}}
			},
			refuse: func(t *testing.T) prgReq {
				return prgReq{c: w.admin, path: serviceAccount(t) + "/tokens", form: url.Values{"name": {"ci"}, "role": {"admin"}}}
			},
		},
		"POST /users/{id}/tokens/{tid}/revoke": {
			ok: func(t *testing.T) prgReq {
				sa := serviceAccount(t)
				return prgReq{c: w.admin, path: sa + "/tokens/" + token(t, w.admin, sa+"/tokens") + "/revoke"}
			},
			refuse: func(t *testing.T) prgReq {
				sa := serviceAccount(t)
				tid := token(t, w.admin, sa+"/tokens")
				return prgReq{c: w.ops, path: sa + "/tokens/" + tid + "/revoke", back: sa + "/tokens"}
			},
		},
	}
}

// passkey stores a passkey for u (removing one needs no ceremony, only
// the password) and returns its id.
// ldapIdP is the login path of an LDAP identity provider on the world's
// directory that makes everyone a viewer.
func (w *prgWorld) ldapIdP(t *testing.T) string {
	t.Helper()
	if w.ldapLogin == "" {
		p := w.env.ldapIdentityProvider(t, w.dir, app.RoleViewer)
		w.ldapLogin = "/login/sso/" + strconv.FormatInt(p.ID, 10)
	}
	return w.ldapLogin
}

// directoryPassword is the password of the people directoryPerson adds.
const directoryPassword = "a directory password for sso"

// directoryPerson adds a person to the world's directory and returns
// their uid.
func (w *prgWorld) directoryPerson(t *testing.T) string {
	t.Helper()
	w.n++
	uid := "sso" + strconv.Itoa(w.n)
	l := w.dir.Admin(t)
	req := goldap.NewAddRequest("uid="+uid+","+ldaptest.UserBase, nil)
	req.Attribute("objectClass", []string{"top", "person", "organizationalPerson", "inetOrgPerson"})
	req.Attribute("uid", []string{uid})
	req.Attribute("cn", []string{"SSO " + uid})
	req.Attribute("sn", []string{uid})
	req.Attribute("mail", []string{uid + "@example.org"})
	req.Attribute("userPassword", []string{directoryPassword})
	if err := l.Add(req); err != nil {
		t.Fatal(err)
	}
	return uid
}

// ldapIdPForm is the console's form for an LDAP identity provider on the
// world's directory.
func (w *prgWorld) ldapIdPForm(name string) url.Values {
	return url.Values{"type": {"ldap"}, "name": {name}, "url": {w.dir.URL}, "start_tls": {"true"},
		"ca_pem": {string(w.dir.CAPEM)}, "bind_dn": {w.dir.BindDN}, "bind_password": {w.dir.BindPassword},
		"base_dn": {w.dir.UserBase}, "user_filter": {"(uid=%s)"}, "rules": {"admins=admin"}, "default_role": {"viewer"}}
}

// newIdP creates an LDAP identity provider through the console and returns
// its page.
func (w *prgWorld) newIdP(t *testing.T) string {
	t.Helper()
	w.n++
	r := w.post(w.admin, "/settings/identity-providers/new", w.ldapIdPForm("Directory "+strconv.Itoa(w.n)))
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("new identity provider: %d\n%s", r.StatusCode, r.body)
	}
	return r.Header.Get("Location")
}

func (w *prgWorld) passkey(t *testing.T, u *app.User) string {
	t.Helper()
	w.n++
	p := &app.Passkey{UserID: u.ID, CredentialID: []byte("cred-" + strconv.Itoa(w.n)), PublicKey: []byte{1}, Name: "key",
		CreatedAt: w.clock.Now()}
	if err := w.db.WithTx(context.Background(), func(tx app.Tx) error { return tx.CreatePasskey(context.Background(), p) }); err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(p.ID, 10)
}

// mustUserIDOf is the owner of a tokens page: the client's own user for
// /account/tokens, else the id in the path.
func mustUserIDOf(t *testing.T, e *env, c *http.Client, base string) int64 {
	t.Helper()
	if rest, ok := strings.CutPrefix(base, "/users/"); ok {
		id, err := strconv.ParseInt(strings.TrimSuffix(rest, "/tokens"), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	m := regexp.MustCompile(`data-testid="account-link">([^<]+)<`).FindStringSubmatch(e.get(c, "/account").body)
	if m == nil {
		t.Fatal("no account email")
	}
	u, err := e.svc.Store().UserByEmail(context.Background(), m[1])
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// TestPRGTableCoversEveryPOSTRoute reads the console's sources for "POST …"
// registrations: every route must be in the PRG table or exempt, with a
// reason, so that a new route cannot skip post/redirect/get.
func TestPRGTableCoversEveryPOSTRoute(t *testing.T) {
	routes := consolePOSTRoutes(t)
	if len(routes) < 30 {
		t.Fatalf("found only %d POST routes: the parser is broken\n%v", len(routes), routes)
	}
	w := &prgWorld{}
	cases := w.prgCases(context.Background())
	for _, r := range routes {
		_, inTable := cases[r]
		_, exempt := prgExempt[r]
		if !inTable && !exempt {
			t.Errorf("%s is in neither the PRG table (prg_test.go) nor its exemptions", r)
		}
		if inTable && exempt {
			t.Errorf("%s is both tested and exempt", r)
		}
	}
	for r := range cases {
		if !slices.Contains(routes, r) {
			t.Errorf("the PRG table has %s, which no source registers", r)
		}
	}
	for r := range prgExempt {
		if !slices.Contains(routes, r) {
			t.Errorf("exempt %s is not registered", r)
		}
	}
}

// consolePOSTRoutes returns the patterns of app/web's non-test sources
// that start with "POST ", string constants and concatenations resolved.
func consolePOSTRoutes(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var parsed []*ast.File
	consts := map[string]string{}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
		ast.Inspect(f, func(n ast.Node) bool {
			if vs, ok := n.(*ast.ValueSpec); ok {
				for i, id := range vs.Names {
					if i < len(vs.Values) {
						if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
							consts[id.Name], _ = strconv.Unquote(lit.Value)
						}
					}
				}
			}
			return true
		})
	}
	var eval func(ast.Expr) (string, bool)
	eval = func(x ast.Expr) (string, bool) {
		switch x := x.(type) {
		case *ast.BasicLit:
			if x.Kind != token.STRING {
				return "", false
			}
			s, err := strconv.Unquote(x.Value)
			return s, err == nil
		case *ast.Ident:
			s, ok := consts[x.Name]
			return s, ok
		case *ast.BinaryExpr:
			if x.Op != token.ADD {
				return "", false
			}
			l, ok1 := eval(x.X)
			r, ok2 := eval(x.Y)
			return l + r, ok1 && ok2
		}
		return "", false
	}
	var routes []string
	for _, f := range parsed {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) == 0 {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (sel.Sel.Name != "Handle" && sel.Sel.Name != "HandleFunc") {
				return true
			}
			if s, ok := eval(call.Args[0]); ok && strings.HasPrefix(s, "POST ") {
				routes = append(routes, s)
			} else if !ok {
				if lit, isLit := call.Args[0].(*ast.BinaryExpr); isLit {
					t.Errorf("%s: a route pattern the test cannot read", fset.Position(lit.Pos()))
				}
			}
			return true
		})
	}
	slices.Sort(routes)
	return routes
}
