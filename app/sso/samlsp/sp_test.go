package samlsp

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crewjam/saml/samlidp"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/sso"
)

// The tests run crewjam's samlidp in process, with its clock fixed at t0,
// and drive the SP-initiated flow over HTTP the way a browser does:
// Begin's redirect to the IdP, the IdP's login form, the IdP's auto-POST
// form to our ACS.

var t0 = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

const (
	alicePassword = "alice's IdP password"
	acsPath       = "/login/sso/7/saml/acs"
	metadataPath  = "/login/sso/7/saml/metadata"
)

// testClock is an SP clock a test moves.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

type keyPair struct {
	cert, key string
	err       error
}

// sharedSPKeyPair is one GenerateKeyPair result shared by the tests' SPs:
// RSA key generation is slow, under -race especially.
var sharedSPKeyPair = sync.OnceValue(func() (p keyPair) {
	p.cert, p.key, p.err = GenerateKeyPair("https://nexplane.example.org"+metadataPath, t0)
	return p
})

func spKeyPair() (certPEM, keyPEM string, err error) {
	p := sharedSPKeyPair()
	return p.cert, p.key, p.err
}

type failingReplay struct{}

func (failingReplay) Consume(string, time.Time) error { return errors.New("database is down") }

// memoryReplay is the caller's replay cache, in memory for the test.
type memoryReplay struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func (m *memoryReplay) Consume(id string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.seen == nil {
		m.seen = map[string]time.Time{}
	}
	if _, ok := m.seen[id]; ok {
		return ErrReplayed
	}
	m.seen[id] = until
	return nil
}

type idp struct {
	srv      *httptest.Server
	services atomic.Int32 // ids for PUT /services/{id}
}

// startIdP runs samlidp at t0 with one user, alice.
func startIdP(t *testing.T) *idp {
	t.Helper()
	key, cert := rsaPair(t, "test IdP")
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	s, err := samlidp.New(samlidp.Options{URL: *u, Key: key, Certificate: cert, Store: &samlidp.MemoryStore{},
		Logger: log.New(io.Discard, "", 0), Clock: dsig.NewFakeClockAt(t0)})
	if err != nil {
		t.Fatal(err)
	}
	h = s
	i := &idp{srv: srv}
	i.put(t, "/users/alice", "application/json", mustJSON(t, map[string]any{"name": "alice", "password": alicePassword,
		"email": "alice@example.org", "common_name": "Alice Doe", "groups": []string{"nexplane-admins", "staff"}}))
	return i
}

func (i *idp) put(t *testing.T, path, ctype string, body []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, i.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	resp, err := i.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("PUT %s: %s", path, resp.Status)
	}
}

func (i *idp) metadata(t *testing.T) string {
	t.Helper()
	b, err := FetchIDPMetadata(context.Background(), i.srv.Client(), i.srv.URL+"/metadata", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sp is our service provider behind a tiny ACS handler, as the framework
// will mount it.
type sp struct {
	*ServiceProvider
	srv    *httptest.Server
	clock  *testClock
	replay *memoryReplay
	mu     sync.Mutex
	// allowed are the request IDs the "browser" may answer, as the caller
	// would keep them server-side.
	allowed []string
}

type acsResult struct {
	Identity sso.Identity
	Code     app.ErrorCode
	Message  string
}

func newSP(t *testing.T, i *idp, mod func(*Config)) *sp {
	t.Helper()
	s := &sp{clock: &testClock{t: t0}, replay: &memoryReplay{}}
	mux := http.NewServeMux()
	s.srv = httptest.NewServer(mux)
	t.Cleanup(s.srv.Close)
	certPEM, keyPEM, err := spKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{MetadataURL: s.srv.URL + metadataPath, ACSURL: s.srv.URL + acsPath, CertPEM: certPEM, KeyPEM: keyPEM,
		IDPMetadataXML: i.metadata(t), GroupsAttr: "eduPersonAffiliation"}
	if mod != nil {
		mod(&cfg)
	}
	s.ServiceProvider, err = New(cfg, WithClock(s.clock.now))
	if err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc("GET "+metadataPath, func(w http.ResponseWriter, _ *http.Request) {
		b, err := s.Metadata()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		_, _ = w.Write(b)
	})
	mux.HandleFunc("POST "+acsPath, func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		allowed := slices.Clone(s.allowed)
		s.mu.Unlock()
		id, err := s.Finish(r.PostFormValue("SAMLResponse"), allowed, s.replay)
		_ = json.NewEncoder(w).Encode(acsResult{Identity: id, Code: app.ErrCode(err), Message: app.ErrMessage(err)})
	})
	// Register with the IdP from our served metadata, as an IdP admin
	// would from the metadata URL.
	resp, err := http.Get(s.srv.URL + metadataPath)
	if err != nil {
		t.Fatal(err)
	}
	md, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	i.put(t, "/services/"+fmt.Sprint(i.services.Add(1)), "application/samlmetadata+xml", md)
	return s
}

var hidden = regexp.MustCompile(`<input type="hidden" name="(\w+)" value="([^"]*)"`)

func formValues(t *testing.T, page []byte) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range hidden.FindAllSubmatch(page, -1) {
		v.Set(string(m[1]), html.UnescapeString(string(m[2])))
	}
	return v
}

// loginAtIdP is a fresh browser: it follows Begin's redirect to the IdP,
// which asks it to log in; it logs in at the IdP (samlidp's POST /login,
// which sets its session cookie) and follows the redirect again, now
// answered with the IdP's auto-POST form. It returns that form's values
// (SAMLResponse, RelayState). (samlidp's own login form re-posts the
// request with the POST binding, unsigned, which it then refuses from an SP
// whose metadata says it signs requests.)
func loginAtIdP(t *testing.T, i *idp, redirect, user, password string) url.Values {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	browser := &http.Client{Jar: jar}
	get := func() ([]byte, string) {
		resp, err := browser.Get(redirect)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		page, _ := io.ReadAll(resp.Body)
		return page, resp.Status
	}
	page, status := get()
	if !bytes.Contains(page, []byte(`name="password"`)) {
		t.Fatalf("IdP did not ask to log in (%s):\n%s", status, page)
	}
	resp, err := browser.PostForm(i.srv.URL+"/login", url.Values{"user": {user}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	page, status = get()
	out := formValues(t, page)
	if out.Get("SAMLResponse") == "" {
		t.Fatalf("IdP did not answer with a SAMLResponse (%s):\n%s", status, page)
	}
	return out
}

// begin starts a login and remembers its request ID as the caller would.
func (s *sp) begin(t *testing.T, relayState string) string {
	t.Helper()
	redirect, id, err := s.Begin(relayState)
	if err != nil {
		t.Fatal(err)
	}
	if id == "" || !strings.Contains(redirect, "SAMLRequest=") || !strings.Contains(redirect, "Signature=") {
		t.Fatalf("Begin = %q, %q; want a signed redirect and an ID", redirect, id)
	}
	s.mu.Lock()
	s.allowed = append(s.allowed, id)
	s.mu.Unlock()
	return redirect
}

// post sends the form to our ACS, as the IdP's page makes the browser do.
func (s *sp) post(t *testing.T, samlResponse string) acsResult {
	t.Helper()
	resp, err := http.PostForm(s.srv.URL+acsPath, url.Values{"SAMLResponse": {samlResponse}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r acsResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return r
}

func wantRefused(t *testing.T, name string, r acsResult, msgPart string) {
	t.Helper()
	if r.Code != app.EUNAUTHORIZED || !strings.Contains(r.Message, msgPart) || r.Identity.Subject != "" {
		t.Errorf("%s: got %+v, want refused with %q", name, r, msgPart)
	}
}

func TestLoginEndToEnd(t *testing.T) {
	t.Parallel()
	i := startIdP(t)
	s := newSP(t, i, nil)

	md, err := s.Metadata()
	if err != nil || !bytes.Contains(md, []byte(`Location="`+s.srv.URL+acsPath+`"`)) || !bytes.Contains(md, []byte(`entityID="`+s.srv.URL+metadataPath+`"`)) {
		t.Errorf("metadata lacks the ACS URL or entity ID: %s %v", md, err)
	}

	form := loginAtIdP(t, i, s.begin(t, "k3y"), "alice", alicePassword)
	if form.Get("RelayState") != "k3y" {
		t.Errorf("RelayState = %q, want it back unchanged", form.Get("RelayState"))
	}
	if !bytes.Contains(decode(t, form.Get("SAMLResponse")), []byte("EncryptedAssertion")) {
		t.Error("the IdP did not encrypt the assertion to the SP's RSA key; the decryption path is untested")
	}
	r := s.post(t, form.Get("SAMLResponse"))
	want := sso.Identity{Subject: "alice@example.org", Email: "alice@example.org", Name: "Alice Doe", Groups: []string{"nexplane-admins", "staff"}}
	if r.Code != "" || r.Identity.Subject != want.Subject || r.Identity.Email != want.Email || r.Identity.Name != want.Name || !slices.Equal(r.Identity.Groups, want.Groups) {
		t.Fatalf("identity = %+v (%s %s), want %+v", r.Identity, r.Code, r.Message, want)
	}
	if r.Identity.Claims["issuer"] != i.srv.URL+"/metadata" {
		t.Errorf("claims = %v", r.Identity.Claims)
	}

	// The same POST again: the assertion is already used.
	wantRefused(t, "replayed response", s.post(t, form.Get("SAMLResponse")), "already used")

	s.begin(t, "")
	wantRefused(t, "garbage", s.post(t, "not base64!"), "not base64")
	wantRefused(t, "not SAML", s.post(t, base64.StdEncoding.EncodeToString([]byte("<a/>"))), "malformed")

	// A response to a request this browser did not start (or already
	// finished) is refused, even when fresh and well signed.
	form = loginAtIdP(t, i, s.begin(t, ""), "alice", alicePassword)
	s.mu.Lock()
	s.allowed = []string{"id-some-other-request"}
	s.mu.Unlock()
	wantRefused(t, "unknown request ID", s.post(t, form.Get("SAMLResponse")), "does not answer a sign-in started in this browser")
	s.mu.Lock()
	s.allowed = nil
	s.mu.Unlock()
	wantRefused(t, "no outstanding request", s.post(t, form.Get("SAMLResponse")), "no sign-in was started")

}

// TestSubjectAttribute links accounts by an attribute instead of the
// NameID, and refuses an assertion that lacks it.
func TestSubjectAttribute(t *testing.T) {
	t.Parallel()
	i := startIdP(t)
	s := newSP(t, i, func(c *Config) { c.SubjectAttr = "uid" })
	r := s.post(t, loginAtIdP(t, i, s.begin(t, ""), "alice", alicePassword).Get("SAMLResponse"))
	if r.Identity.Subject != "alice" {
		t.Errorf("subject = %q (%s), want the uid attribute", r.Identity.Subject, r.Message)
	}
	s2 := newSP(t, i, func(c *Config) { c.EntityID = "https://sp2.example.org"; c.SubjectAttr = "objectidentifier" })
	wantRefused(t, "missing subject attribute", s2.post(t, loginAtIdP(t, i, s2.begin(t, ""), "alice", alicePassword).Get("SAMLResponse")), "no attribute objectidentifier")
}

// TestTamperedResponse: changing signed content, or stripping the
// signatures, is refused. The SP key is ECDSA here so the IdP sends the
// assertion in clear (it encrypts only to RSA keys) and the test can edit
// it.
func TestTamperedResponse(t *testing.T) {
	t.Parallel()
	i := startIdP(t)
	s := newSP(t, i, func(c *Config) { c.CertPEM, c.KeyPEM = ecdsaPair(t) })
	raw := decode(t, loginAtIdP(t, i, s.begin(t, ""), "alice", alicePassword).Get("SAMLResponse"))
	if !bytes.Contains(raw, []byte("alice@example.org")) {
		t.Fatalf("assertion not in clear:\n%s", raw)
	}
	for _, tc := range []struct {
		name string
		edit func([]byte) []byte
		want string
	}{
		{"other user", func(b []byte) []byte {
			return bytes.ReplaceAll(b, []byte("alice@example.org"), []byte("admin@example.org"))
		},
			"not signed by the identity provider"},
		{"extra group", func(b []byte) []byte {
			return bytes.Replace(b, []byte(">staff<"), []byte(">nexplane-admins<"), 1)
		}, "not signed by the identity provider"},
		{"signatures stripped", func(b []byte) []byte {
			return regexp.MustCompile(`(?s)<ds:Signature.*?</ds:Signature>`).ReplaceAll(b, nil)
		}, "not signed by the identity provider"},
	} {
		edited := tc.edit(bytes.Clone(raw))
		if bytes.Equal(edited, raw) {
			t.Fatalf("%s: edit changed nothing", tc.name)
		}
		wantRefused(t, tc.name, s.post(t, base64.StdEncoding.EncodeToString(edited)), tc.want)
	}
	// A replay cache that cannot record (its database is down) refuses
	// the login as an infrastructure failure, not as the user's fault.
	_, err := s.Finish(base64.StdEncoding.EncodeToString(raw), slices.Clone(s.allowed), failingReplay{})
	if app.ErrCode(err) != app.EUNAVAILABLE || errors.Is(err, ErrInvalidResponse) {
		t.Errorf("failing replay cache: %v, want EUNAVAILABLE", err)
	}
	// The untouched response still works: the refusals above were the edits.
	if r := s.post(t, base64.StdEncoding.EncodeToString(raw)); r.Identity.Subject != "alice@example.org" {
		t.Errorf("untouched response: %+v", r)
	}
}

// TestWrongAudience: a response the IdP issued to another SP (same ACS
// URL, same key, different entity ID) is refused by ours.
func TestWrongAudience(t *testing.T) {
	t.Parallel()
	i := startIdP(t)
	s := newSP(t, i, nil)
	other := newSP(t, i, func(c *Config) {
		c.EntityID = "https://other.example.org/saml"
		c.ACSURL, c.CertPEM, c.KeyPEM = s.cfg.ACSURL, s.cfg.CertPEM, s.cfg.KeyPEM
	})
	form := loginAtIdP(t, i, other.begin(t, ""), "alice", alicePassword)
	s.mu.Lock()
	s.allowed = slices.Clone(other.allowed) // even with the request ID let through
	s.mu.Unlock()
	wantRefused(t, "other audience", s.post(t, form.Get("SAMLResponse")), "meant for another service provider")
}

// TestClock: expiry and clock skew, with the SP's clock moved and the
// IdP's fixed at t0.
func TestClock(t *testing.T) {
	t.Parallel()
	i := startIdP(t)
	for _, tc := range []struct {
		name    string
		skew    int
		spNow   time.Time // when the response reaches us
		refused string    // "" means accepted
	}{
		{"in time", 0, t0.Add(30 * time.Second), ""},
		{"expired", 0, t0.Add(10 * time.Minute), "expired"},
		{"our clock 80s behind, skew 90s", 90, t0.Add(-80 * time.Second), ""},
		{"our clock 80s behind, skew 60s", 60, t0.Add(-80 * time.Second), "not valid yet"},
		{"our clock 4 min behind, largest skew", 180, t0.Add(-4 * time.Minute), "not valid yet"},
	} {
		s := newSP(t, i, func(c *Config) {
			c.EntityID = "https://sp.example.org/" + strings.ReplaceAll(tc.name, " ", "-")
			c.ClockSkewSeconds = tc.skew
		})
		form := loginAtIdP(t, i, s.begin(t, ""), "alice", alicePassword)
		s.clock.set(tc.spNow)
		r := s.post(t, form.Get("SAMLResponse"))
		if tc.refused == "" {
			if r.Identity.Subject != "alice@example.org" {
				t.Errorf("%s: %+v, want accepted", tc.name, r)
			}
			continue
		}
		wantRefused(t, tc.name, r, tc.refused)
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	i := startIdP(t)
	certPEM, keyPEM, err := GenerateKeyPair("https://nexplane.example.org/login/sso/7/saml/metadata", t0)
	if err != nil {
		t.Fatal(err)
	}
	otherCert, _, err := GenerateKeyPair("other", t0)
	if err != nil {
		t.Fatal(err)
	}
	ok := func() Config {
		return Config{MetadataURL: "https://nexplane.example.org" + metadataPath, ACSURL: "https://nexplane.example.org" + acsPath,
			CertPEM: certPEM, KeyPEM: keyPEM, IDPMetadataXML: i.metadata(t)}
	}
	c := ok()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.EmailAttr != "mail" || c.NameAttr != "cn" || c.GroupsAttr != "groups" || c.ClockSkew() != DefaultClockSkew {
		t.Errorf("defaults = %+v", c)
	}
	for _, tc := range []struct {
		name, want string
		mod        func(*Config)
	}{
		{"http", "acs_url must be https://", func(c *Config) { c.ACSURL = "http://nexplane.example.org/acs" }},
		{"relative", "metadata_url", func(c *Config) { c.MetadataURL = "/login/sso/7/saml/metadata" }},
		{"no key", "private key is not PEM", func(c *Config) { c.KeyPEM = "" }},
		{"mismatched cert", "does not match", func(c *Config) { c.CertPEM = otherCert }},
		{"no idp metadata", "idp_metadata_xml is required", func(c *Config) { c.IDPMetadataXML = "" }},
		{"bad idp metadata", "does not parse", func(c *Config) { c.IDPMetadataXML = "<html/>" }},
		{"sp metadata as idp", "not an identity provider", func(c *Config) {
			s, err := New(ok())
			if err != nil {
				t.Fatal(err)
			}
			md, _ := s.Metadata()
			c.IDPMetadataXML = string(md)
		}},
		{"skew", "clock_skew_seconds", func(c *Config) { c.ClockSkewSeconds = 600 }},
	} {
		c := ok()
		tc.mod(&c)
		err := c.Validate()
		if app.ErrCode(err) != app.EINVALID || !strings.Contains(app.ErrMessage(err), tc.want) {
			t.Errorf("%s: %v, want EINVALID with %q", tc.name, err, tc.want)
		}
		if strings.Contains(fmt.Sprint(err), "PRIVATE KEY") {
			t.Errorf("%s: error quotes the key", tc.name)
		}
	}
	if s := fmt.Sprintf("%v %+v %#v", c, c, c); strings.Contains(s, "PRIVATE KEY") {
		t.Errorf("formatting a Config shows the key: %s", s)
	}
	if MaxClockSkew > 180*time.Second {
		t.Error("MaxClockSkew exceeds crewjam's saml.MaxClockSkew")
	}

	for _, u := range []string{"http://idp.example.org/metadata", "ftp://x"} {
		if _, err := FetchIDPMetadata(context.Background(), nil, u, time.Second); app.ErrCode(err) != app.EINVALID {
			t.Errorf("fetch %s: %v, want refused before any request", u, err)
		}
	}
	if _, err := FetchIDPMetadata(context.Background(), i.srv.Client(), i.srv.URL+"/no-such", 10*time.Second); app.ErrCode(err) != app.EUNAVAILABLE {
		t.Errorf("fetch 404: %v, want EUNAVAILABLE", err)
	}
}

func decode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJSON(t *testing.T, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rsaPair(t *testing.T, cn string) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: t0.Add(-24 * time.Hour), NotAfter: t0.AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return key, cert
}

func ecdsaPair(t *testing.T) (certPEM, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ecdsa SP"},
		NotBefore: t0.Add(-24 * time.Hour), NotAfter: t0.AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))
}
