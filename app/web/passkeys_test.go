package web_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"

	"github.com/nexplane/nexplane/app"
)

// softKey is a software authenticator for HTTP-level tests: one P-256
// credential that signs whatever origin, RP ID and counter a test asks for,
// so the server's own checks are what is tested.
type softKey struct {
	t      *testing.T
	id     []byte
	key    *ecdsa.PrivateKey
	handle []byte // the user handle stored with the credential
	count  uint32
}

func newSoftKey(t *testing.T) *softKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		t.Fatal(err)
	}
	return &softKey{t: t, id: id, key: key}
}

var b64 = base64.RawURLEncoding

const (
	flagUP = 0x01
	flagUV = 0x04
	flagAT = 0x40
)

func (k *softKey) clientData(typ, challenge, origin string) []byte {
	b, err := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": origin, "crossOrigin": false})
	if err != nil {
		k.t.Fatal(err)
	}
	return b
}

func authData(rpID string, flags byte, count uint32) []byte {
	h := sha256.Sum256([]byte(rpID))
	out := append(h[:], flags)
	return binary.BigEndian.AppendUint32(out, count)
}

// create answers navigator.credentials.create options (a "none" attestation).
func (k *softKey) create(options []byte, rpID, origin string) []byte {
	k.t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
			User      struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		k.t.Fatalf("creation options %s: %v", options, err)
	}
	var err error
	if k.handle, err = b64.DecodeString(o.PublicKey.User.ID); err != nil {
		k.t.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, XCoord: k.key.X.FillBytes(make([]byte, 32)), YCoord: k.key.Y.FillBytes(make([]byte, 32)),
	})
	if err != nil {
		k.t.Fatal(err)
	}
	ad := authData(rpID, flagUP|flagUV|flagAT, k.count)
	ad = append(ad, make([]byte, 16)...) // AAGUID
	ad = binary.BigEndian.AppendUint16(ad, uint16(len(k.id)))
	ad = append(append(ad, k.id...), cose...)
	att, err := webauthncbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": ad})
	if err != nil {
		k.t.Fatal(err)
	}
	return k.encode(map[string]any{
		"clientDataJSON":    b64.EncodeToString(k.clientData("webauthn.create", o.PublicKey.Challenge, origin)),
		"attestationObject": b64.EncodeToString(att),
		"transports":        []string{"internal"},
	})
}

// get answers navigator.credentials.get options with the counter given.
func (k *softKey) get(options []byte, rpID, origin string, count uint32) []byte {
	k.t.Helper()
	var o struct {
		PublicKey struct {
			Challenge string `json:"challenge"`
		} `json:"publicKey"`
	}
	if err := json.Unmarshal(options, &o); err != nil {
		k.t.Fatalf("request options %s: %v", options, err)
	}
	cd := k.clientData("webauthn.get", o.PublicKey.Challenge, origin)
	ad := authData(rpID, flagUP|flagUV, count)
	h := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, ad...), h[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.key, digest[:])
	if err != nil {
		k.t.Fatal(err)
	}
	return k.encode(map[string]any{
		"clientDataJSON":    b64.EncodeToString(cd),
		"authenticatorData": b64.EncodeToString(ad),
		"signature":         b64.EncodeToString(sig),
		"userHandle":        b64.EncodeToString(k.handle),
	})
}

func (k *softKey) encode(response map[string]any) []byte {
	b, err := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.id), "rawId": b64.EncodeToString(k.id), "type": "public-key",
		"response": response, "clientExtensionResults": map[string]any{},
	})
	if err != nil {
		k.t.Fatal(err)
	}
	return b
}

// pkEnv talks to the console as https://localhost:PORT (the RP ID the
// server derives from Host; WebAuthn refuses IP addresses).
type pkEnv struct {
	*env
	host   string // localhost:PORT
	origin string // https://localhost:PORT
}

func newPKEnv(t *testing.T, o envOpts) *pkEnv {
	e := newEnv(t, o)
	u, err := url.Parse(e.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	host := "localhost:" + u.Port()
	return &pkEnv{env: e, host: host, origin: "https://" + host}
}

// asLocalhost sends req to the test server under the Host localhost:PORT.
// The client's jar files cookies under that Host then, so the cookies it
// holds for the server's own address (the login's) go along by hand.
func (e *pkEnv) asLocalhost(c *http.Client, req *http.Request) {
	req.Host = e.host
	if c.Jar != nil {
		for _, ck := range c.Jar.Cookies(req.URL) {
			req.AddCookie(ck)
		}
	}
}

// jpost posts a JSON body as the console's script does.
func (e *pkEnv) jpost(c *http.Client, path string, body []byte) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	e.asLocalhost(c, req)
	req.Header.Set("Content-Type", "application/json")
	return e.do(c, req)
}

func (e *pkEnv) form(c *http.Client, path string, form url.Values) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.asLocalhost(c, req)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(c, req)
}

func errCodeOf(t *testing.T, r response) string {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("status %d, not a JSON error: %s", r.StatusCode, r.body)
	}
	return body.Error.Code
}

// register registers k for the logged-in client c under name.
func (e *pkEnv) register(c *http.Client, k *softKey, name string) {
	e.t.Helper()
	begin := e.jpost(c, "/account/passkeys/begin", []byte(`{"name":`+strconvQuote(name)+`}`))
	if begin.StatusCode != http.StatusOK {
		e.t.Fatalf("register begin: %d %s %v", begin.StatusCode, begin.body, begin.Header)
	}
	fin := e.jpost(c, "/account/passkeys/finish", k.create([]byte(begin.body), "localhost", e.origin))
	if fin.StatusCode != http.StatusOK || !strings.Contains(fin.body, "/account/passkeys") {
		e.t.Fatalf("register finish: %d %s", fin.StatusCode, fin.body)
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// TestPasskeyAssertionChecks signs in without a password with a software
// authenticator, and shows the server refusing answers made for another
// origin or RP ID, a replayed ceremony and a counter that went backwards
// (audited); the login record says method "passkey".
func TestPasskeyAssertionChecks(t *testing.T) {
	e := newPKEnv(t, envOpts{})
	u := e.seedUser("hopper@example.com", app.RoleViewer)
	k := newSoftKey(t)
	c := e.client()
	e.login(c, u.Email)
	e.register(c, k, "Soft key")

	signIn := func(rpID, origin string, count uint32) (response, *http.Client) {
		t.Helper()
		b := e.client()
		begin := e.jpost(b, "/login/passkey/begin", nil)
		if begin.StatusCode != http.StatusOK || !strings.Contains(begin.body, `"userVerification":"required"`) {
			t.Fatalf("login begin: %d %s", begin.StatusCode, begin.body)
		}
		return e.jpost(b, "/login/passkey/finish", k.get([]byte(begin.body), rpID, origin, count)), b
	}

	for _, tc := range []struct{ what, rpID, origin string }{
		{"another origin", "localhost", "https://evil.example"},
		{"another port", "localhost", "https://localhost:1"},
		{"plain http", "localhost", "http://" + e.host},
		{"another RP ID", "evil.example", e.origin},
	} {
		r, _ := signIn(tc.rpID, tc.origin, 1)
		if r.StatusCode != http.StatusUnauthorized || errCodeOf(t, r) != "unauthorized" {
			t.Errorf("%s: %d %s", tc.what, r.StatusCode, r.body)
		}
		for _, ck := range r.Cookies() {
			if ck.Name == "__Host-nexplane_session" && ck.MaxAge >= 0 {
				t.Errorf("%s: a session cookie was set", tc.what)
			}
		}
	}

	r, b := signIn("localhost", e.origin, 5)
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"redirect":"/"`) {
		t.Fatalf("sign in: %d %s", r.StatusCode, r.body)
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/", nil)
	e.asLocalhost(b, req)
	if d := e.do(b, req); d.StatusCode != http.StatusOK || !strings.Contains(d.body, u.Email) {
		t.Fatalf("dashboard after passkey sign-in: %d", d.StatusCode)
	}

	// The ceremony works once: the same cookie and answer again is refused.
	begin := e.jpost(b, "/login/passkey/begin", nil)
	answer := k.get([]byte(begin.body), "localhost", e.origin, 6)
	var cookie *http.Cookie
	for _, ck := range begin.Cookies() {
		if ck.Name == "__Host-nexplane_webauthn" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("ceremony cookie: %+v", cookie)
	}
	replay := func() response {
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/login/passkey/finish", bytes.NewReader(answer))
		req.Host = e.host
		req.AddCookie(&http.Cookie{Name: cookie.Name, Value: cookie.Value})
		return e.do(e.bareClient(), req)
	}
	if r := replay(); r.StatusCode != http.StatusOK {
		t.Fatalf("first use: %d %s", r.StatusCode, r.body)
	}
	if r := replay(); r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, "already used") {
		t.Fatalf("replayed ceremony: %d %s", r.StatusCode, r.body)
	}

	// A counter that did not advance suggests a cloned key: refused, audited.
	if r, _ := signIn("localhost", e.origin, 6); r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, "signature counter") {
		t.Fatalf("regressed counter: %d %s", r.StatusCode, r.body)
	}

	evs, err := e.db.ListAudit(context.Background(), app.AuditFilter{Limit: app.MaxAuditLimit})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, ev := range evs {
		count[ev.Event]++
		if ev.Event == "auth.login_succeeded" && !strings.Contains(string(ev.Payload), `"method":`) {
			t.Errorf("login record without method: %s", ev.Payload)
		}
	}
	if count["passkey.registered"] != 1 || count["passkey.sign_count_regressed"] != 1 ||
		count["auth.login_failed"] != 4 || count["auth.login_succeeded"] != 3 {
		t.Errorf("audit counts: %v", count)
	}
}

// TestPasskeyCeremonyBinding: a registration begun in one console session
// cannot be finished in another, even with its cookie; a passkey cannot be
// registered twice; names are unique per user and validated; only a
// logged-in user reaches the pages.
func TestPasskeyCeremonyBinding(t *testing.T) {
	e := newPKEnv(t, envOpts{})
	ada := e.seedUser("ada@example.com", app.RoleViewer)
	bob := e.seedUser("bob@example.com", app.RoleViewer)
	ca, cb := e.client(), e.client()
	e.login(ca, ada.Email)
	e.login(cb, bob.Email)
	k := newSoftKey(t)

	begin := e.jpost(ca, "/account/passkeys/begin", []byte(`{"name":"Mine"}`))
	if begin.StatusCode != http.StatusOK {
		t.Fatalf("begin: %d %s", begin.StatusCode, begin.body)
	}
	answer := k.create([]byte(begin.body), "localhost", e.origin)
	u, _ := url.Parse(e.srv.URL)
	for _, ck := range begin.Cookies() {
		cb.Jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/"}})
	}
	if r := e.jpost(cb, "/account/passkeys/finish", answer); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("finish in another session: %d %s", r.StatusCode, r.body)
	}
	if keys, _ := e.db.PasskeysOf(context.Background(), bob.ID); len(keys) != 0 {
		t.Fatalf("bob got a passkey: %+v", keys)
	}

	e.register(ca, k, "Mine")
	for _, tc := range []struct{ body, want string }{
		{`{"name":"mine"}`, "conflict"},
		{`{"name":"  "}`, "invalid"},
		{`{"name":"` + strings.Repeat("x", 65) + `"}`, "invalid"},
		{`{"name":"a\u0007b"}`, "invalid"},
		{`not json`, "invalid"},
	} {
		if r := e.jpost(ca, "/account/passkeys/begin", []byte(tc.body)); errCodeOf(t, r) != tc.want {
			t.Errorf("begin %s: %d %s", tc.body, r.StatusCode, r.body)
		}
	}
	// The same credential for bob is refused by the store's unique key.
	cb = e.client()
	e.login(cb, bob.Email)
	begin = e.jpost(cb, "/account/passkeys/begin", []byte(`{"name":"Stolen"}`))
	if r := e.jpost(cb, "/account/passkeys/finish", k.create([]byte(begin.body), "localhost", e.origin)); r.StatusCode != http.StatusConflict {
		t.Fatalf("same credential twice: %d %s", r.StatusCode, r.body)
	}

	// Logged out, the pages send to login and the JSON endpoints too.
	requireLoggedOut(t, e.get(e.client(), "/account/passkeys"))
	if r := e.jpost(e.client(), "/account/passkeys/begin", []byte(`{"name":"x"}`)); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("begin logged out: %d", r.StatusCode)
	}

	// Removing someone else's passkey is not found; a wrong password is refused.
	keys, err := e.db.PasskeysOf(context.Background(), ada.ID)
	if err != nil || len(keys) != 1 {
		t.Fatalf("ada's passkeys: %+v, %v", keys, err)
	}
	path := "/account/passkeys/" + itoa(keys[0].ID) + "/delete"
	if r := e.form(cb, path, url.Values{"password": {testPassword}}); r.StatusCode != http.StatusNotFound {
		t.Fatalf("bob removes ada's passkey: %d", r.StatusCode)
	}
	e.refused(t, ca, e.form(ca, path, url.Values{"password": {"wrong password"}}), "/account/passkeys", "password")
	if r := e.form(ca, path, url.Values{"password": {testPassword}}); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", r.StatusCode, r.body)
	}
	if keys, _ := e.db.PasskeysOf(context.Background(), ada.ID); len(keys) != 0 {
		t.Fatalf("not removed: %+v", keys)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestPasskeySecondStep: a passkey makes the user enrolled (the policy lets
// them in, the password leads to the second step); the second step takes a
// passkey assertion bound to its own half-finished login (method
// "password+passkey"); a fresh assertion can stand in for the password to
// remove a passkey, but the last factor of a covered user stays.
func TestPasskeySecondStep(t *testing.T) {
	e := newPKEnv(t, envOpts{})
	ctx := context.Background()
	u := e.seedUser("mary@example.com", app.RoleOperator)
	if _, err := e.svc.SetMFAPolicy(ctx, app.SystemActor("test"), "everyone"); err != nil {
		t.Fatal(err)
	}
	k := newSoftKey(t)
	c := e.client()
	e.login(c, u.Email)
	// Covered and not enrolled: sent to enrol, yet the passkeys page is open.
	if r := e.get(c, "/changes"); r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/account/mfa" {
		t.Fatalf("not enrolled: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := e.get(c, "/account/passkeys"); r.StatusCode != http.StatusOK || !strings.Contains(r.body, "passkeys-must-enroll") {
		t.Fatalf("passkeys page while enrolling: %d", r.StatusCode)
	}
	e.register(c, k, "Phone")
	if r := e.get(c, "/changes"); r.StatusCode != http.StatusOK {
		t.Fatalf("enrolled with a passkey: %d %q", r.StatusCode, r.Header.Get("Location"))
	}

	passwordStep := func() *http.Client {
		t.Helper()
		b := e.client()
		r := e.form(b, "/login", url.Values{"email": {u.Email}, "password": {testPassword}})
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login/mfa" {
			t.Fatalf("password step: %d %q", r.StatusCode, r.Header.Get("Location"))
		}
		return b
	}
	b := passwordStep()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/login/mfa", nil)
	e.asLocalhost(b, req)
	if r := e.do(b, req); !strings.Contains(r.body, `data-testid="mfa-passkey"`) {
		t.Fatalf("the second step does not offer the passkey: %d", r.StatusCode)
	}
	// Without a half-finished login there is nothing to answer.
	if r := e.jpost(e.client(), "/login/mfa/passkey/begin", nil); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("begin without the password step: %d %s", r.StatusCode, r.body)
	}
	begin := e.jpost(b, "/login/mfa/passkey/begin", nil)
	if begin.StatusCode != http.StatusOK || !strings.Contains(begin.body, "allowCredentials") {
		t.Fatalf("second step begin: %d %s", begin.StatusCode, begin.body)
	}
	// Another half-finished login cannot use this ceremony.
	other := passwordStep()
	u2, _ := url.Parse("https://" + e.host)
	for _, ck := range begin.Cookies() {
		other.Jar.SetCookies(u2, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/"}})
	}
	answer := k.get([]byte(begin.body), "localhost", e.origin, 3)
	if r := e.jpost(other, "/login/mfa/passkey/finish", answer); r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("ceremony of another login: %d %s", r.StatusCode, r.body)
	}
	begin = e.jpost(b, "/login/mfa/passkey/begin", nil)
	r := e.jpost(b, "/login/mfa/passkey/finish", k.get([]byte(begin.body), "localhost", e.origin, 4))
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `"redirect":"/"`) {
		t.Fatalf("second step: %d %s", r.StatusCode, r.body)
	}
	evs, err := e.db.ListAudit(ctx, app.AuditFilter{Event: "auth.login_succeeded", Limit: 1})
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Payload), `"method":"password+passkey"`) {
		t.Fatalf("login record: %+v, %v", evs, err)
	}

	// The only factor of a covered user cannot be removed.
	keys, _ := e.db.PasskeysOf(ctx, u.ID)
	path := "/account/passkeys/" + itoa(keys[0].ID)
	e.refused(t, c, e.form(c, path+"/delete", url.Values{"password": {testPassword}}), "/account/passkeys")
	// With a second passkey, one goes, confirmed by a fresh assertion of
	// the other; a ceremony of another session does not count.
	k2 := newSoftKey(t)
	e.register(c, k2, "Key")
	begin = e.jpost(c, "/account/passkeys/reauth/begin", nil)
	if begin.StatusCode != http.StatusOK || !strings.Contains(begin.body, `"userVerification":"required"`) {
		t.Fatalf("reauth begin: %d %s", begin.StatusCode, begin.body)
	}
	if r := e.jpost(c, path+"/delete-with-passkey", k2.get([]byte(begin.body), "evil.example", e.origin, 1)); r.StatusCode != http.StatusBadRequest {
		t.Fatalf("reauth for another RP ID: %d %s", r.StatusCode, r.body)
	}
	begin = e.jpost(c, "/account/passkeys/reauth/begin", nil)
	if r := e.jpost(c, path+"/delete-with-passkey", k2.get([]byte(begin.body), "localhost", e.origin, 1)); r.StatusCode != http.StatusOK {
		t.Fatalf("remove with passkey: %d %s", r.StatusCode, r.body)
	}
	if keys, _ := e.db.PasskeysOf(ctx, u.ID); len(keys) != 1 || keys[0].Name != "Key" || keys[0].SignCount != 1 {
		t.Fatalf("after removal: %+v", keys)
	}
	evs, err = e.db.ListAudit(ctx, app.AuditFilter{Event: "passkey.removed", Limit: 5})
	if err != nil || len(evs) != 1 || !strings.Contains(string(evs[0].Payload), `"reauth":"passkey"`) {
		t.Fatalf("removal record: %+v, %v", evs, err)
	}
	// No secret material in any record.
	all, _ := e.db.ListAudit(ctx, app.AuditFilter{Limit: app.MaxAuditLimit})
	for _, ev := range all {
		if strings.Contains(string(ev.Payload), "publicKey") || strings.Contains(string(ev.Payload), "challenge") {
			t.Errorf("ceremony data in %s: %s", ev.Event, ev.Payload)
		}
	}
}

// TestPasskeyOnlyUserCanAddTOTP: a user whose only factor is a passkey
// still sees the authenticator app's set-up on /account/mfa, and under the
// policy may turn the app off again while a passkey remains.
func TestPasskeyOnlyUserCanAddTOTP(t *testing.T) {
	e := newPKEnv(t, envOpts{})
	u := e.seedUser("kay@example.com", app.RoleAdmin)
	if _, err := e.svc.SetMFAPolicy(context.Background(), app.SystemActor("test"), "admins"); err != nil {
		t.Fatal(err)
	}
	c := e.client()
	e.login(c, u.Email)
	e.register(c, newSoftKey(t), "Desk key")
	r := e.get(c, "/account/mfa")
	if r.StatusCode != http.StatusOK || !strings.Contains(r.body, `data-testid="mfa-enroll-start"`) || strings.Contains(r.body, "mfa-must-enroll") {
		t.Fatalf("account page of a passkey-only user: %d\n%s", r.StatusCode, r.body)
	}
	st, err := e.svc.MFAStatusOf(context.Background(), app.UserActor(u))
	if err != nil || !st.Enrolled || !st.Has(app.FactorPasskey) || st.Has(app.FactorTOTP) || !st.CanDisable() {
		t.Fatalf("status: %+v, %v", st, err)
	}
}

// TestPasskeyLoginThrottled: refused passwordless sign-ins count against
// the client's address; past the limit even a good answer waits, and a
// cross-site request never reaches the ceremony.
func TestPasskeyLoginThrottled(t *testing.T) {
	e := newPKEnv(t, envOpts{limiter: app.NewLoginLimiter(app.LoginLimitConfig{AddrMaxFailures: 2})})
	u := e.seedUser("ida@example.com", app.RoleViewer)
	k := newSoftKey(t)
	c := e.client()
	e.login(c, u.Email)
	e.register(c, k, "Key")
	try := func(origin string, count uint32) response {
		b := e.client()
		begin := e.jpost(b, "/login/passkey/begin", nil)
		return e.jpost(b, "/login/passkey/finish", k.get([]byte(begin.body), "localhost", origin, count))
	}
	for i := range 2 {
		if r := try("https://evil.example", uint32(i+1)); r.StatusCode != http.StatusUnauthorized {
			t.Fatalf("refusal %d: %d %s", i, r.StatusCode, r.body)
		}
	}
	if r := try(e.origin, 10); r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Fatalf("past the limit: %d %s", r.StatusCode, r.body)
	}

	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/login/passkey/begin", nil)
	e.asLocalhost(e.client(), req)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if r := e.do(e.client(), req); r.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site begin: %d", r.StatusCode)
	}
}
