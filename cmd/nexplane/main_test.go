package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

const testSecret = "0123456789abcdef0123456789abcdef-test-only"

// cli runs commands in-process against one data directory.
type cli struct {
	t   *testing.T
	env map[string]string
}

func newCLI(t *testing.T) *cli {
	return &cli{t: t, env: map[string]string{
		"SECRET_KEY":        testSecret,
		"NEXPLANE_DATA_DIR": t.TempDir(),
		// Parallel servers must not fight over the default :8444.
		"NEXPLANE_AGENT_LISTEN": "127.0.0.1:0",
	}}
}

func (c *cli) getenv(k string) string { return c.env[k] }

// newEnv is the command environment with bcrypt at cost 4 for speed; the
// default cost itself is tested in app/auth.
func (c *cli) newEnv(stdin io.Reader, stdout, stderr io.Writer) *env {
	e := newEnv(c.getenv, stdin, stdout, stderr)
	e.bcryptCost = 4
	return e
}

func (c *cli) run(stdin string, args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), args, c.newEnv(strings.NewReader(stdin), &out, &errb))
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := newCLI(t).run("", "version")
	if code != 0 || !strings.HasPrefix(out, "nexplane ") {
		t.Errorf("version: %d %q", code, out)
	}
}

func TestConfigErrorsAreOneLineExit2(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"missing secret", map[string]string{"SECRET_KEY": ""}, []string{"serve"}, "SECRET_KEY is not set"},
		{"short secret", map[string]string{"SECRET_KEY": "too-short"}, []string{"serve"}, "at least 32 bytes"},
		{"short previous", map[string]string{"SECRET_KEY_PREVIOUS": "short"}, []string{"serve"}, "SECRET_KEY_PREVIOUS"},
		{"both secret and file", map[string]string{"SECRET_KEY_FILE": "/nonexistent"}, []string{"serve"}, "not both"},
		{"bad database url", map[string]string{"DATABASE_URL": "mysql://x"}, []string{"serve"}, "DATABASE_URL must start with postgres://"},
		{"half TLS config", map[string]string{"NEXPLANE_TLS_CERT": "/x.crt"}, []string{"serve"}, "NEXPLANE_TLS_KEY"},
		{"bad insecure flag", map[string]string{"NEXPLANE_INSECURE_HTTP": "yes"}, []string{"serve"}, "NEXPLANE_INSECURE_HTTP"},
		{"unwritable data dir", map[string]string{"NEXPLANE_DATA_DIR": "/proc/nexplane"}, []string{"serve"}, "NEXPLANE_DATA_DIR"},
		{"clear-text syslog off loopback", map[string]string{"NEXPLANE_SYSLOG_URL": "tcp://siem.example.com:514"}, []string{"serve"}, "NEXPLANE_SYSLOG_URL: tcp:// is for loopback hosts only"},
		{"syslog without port", map[string]string{"NEXPLANE_SYSLOG_URL": "tcp+tls://siem.example.com"}, []string{"serve"}, "NEXPLANE_SYSLOG_URL"},
		{"syslog CA missing", map[string]string{"NEXPLANE_SYSLOG_URL": "tcp+tls://siem.example.com:6514", "NEXPLANE_SYSLOG_CA_FILE": "/nonexistent.pem"}, []string{"serve"}, "CA file"},
		{"syslog CA alone", map[string]string{"NEXPLANE_SYSLOG_CA_FILE": "/etc/hosts"}, []string{"serve"}, "needs NEXPLANE_SYSLOG_URL"},
		{"relative witness", map[string]string{"NEXPLANE_AUDIT_WITNESS": "witness.jsonl"}, []string{"serve"}, "NEXPLANE_AUDIT_WITNESS witness.jsonl: must be an absolute path"},
		{"witness in a missing directory", map[string]string{"NEXPLANE_AUDIT_WITNESS": "/nonexistent/witness.jsonl"}, []string{"serve"}, "NEXPLANE_AUDIT_WITNESS /nonexistent/witness.jsonl: its directory"},
		{"witness is a directory", nil, []string{"serve", "--audit-witness", "/tmp"}, "not a regular file"},
		{"connector concurrency zero", map[string]string{"NEXPLANE_CONNECTOR_CONCURRENCY": "0"}, []string{"serve"}, "NEXPLANE_CONNECTOR_CONCURRENCY must be a number from 1 to 64"},
		{"connector concurrency flag", nil, []string{"serve", "--connector-concurrency", "65"}, "-connector-concurrency must be from 1 to 64"},
		{"unknown command", nil, []string{"frobnicate"}, "unknown command"},
		{"user without flags", nil, []string{"user", "create"}, "--email, --role and --password-stdin are required"},
		{"unknown flag", nil, []string{"user", "list", "--bogus"}, "bogus"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(t)
			for k, v := range tc.env {
				c.env[k] = v
			}
			code, _, stderr := c.run("", tc.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, stderr)
			}
			last := strings.TrimSpace(stderr)
			if i := strings.LastIndex(last, "\n"); i >= 0 {
				last = last[i+1:]
			}
			if !strings.Contains(last, tc.want) {
				t.Errorf("last stderr line %q does not contain %q", last, tc.want)
			}
		})
	}
}

func TestUserCommands(t *testing.T) {
	c := newCLI(t)
	code, out, stderr := c.run("a long enough password\n", "user", "create", "--email", "Ops@Example.com", "--role", "admin", "--password-stdin")
	if code != 0 || !strings.Contains(out, "ops@example.com") {
		t.Fatalf("create: %d %q %q", code, out, stderr)
	}
	cases := []struct {
		name, stdin string
		args        []string
		code        int
		want        string
	}{
		{"weak password", "short\n", []string{"user", "create", "--email", "b@example.com", "--role", "viewer", "--password-stdin"}, 1, "at least 12"},
		{"unknown role", "a long enough password\n", []string{"user", "create", "--email", "b@example.com", "--role", "god", "--password-stdin"}, 1, "unknown role"},
		{"duplicate", "a long enough password\n", []string{"user", "create", "--email", "OPS@example.com", "--role", "viewer", "--password-stdin"}, 1, "already exists"},
		{"bad email", "a long enough password\n", []string{"user", "create", "--email", "nope", "--role", "viewer", "--password-stdin"}, 1, "not a valid address"},
		{"empty stdin", "", []string{"user", "create", "--email", "c@example.com", "--role", "viewer", "--password-stdin"}, 2, "no password on stdin"},
		{"reset unknown user", "another long password\n", []string{"user", "reset-password", "--email", "ghost@example.com", "--password-stdin"}, 1, "not found"},
	}
	for _, tc := range cases {
		code, _, stderr := c.run(tc.stdin, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%s: exit %d stderr %q, want exit %d with one line containing %q", tc.name, code, stderr, tc.code, tc.want)
		}
	}
	code, _, stderr = c.run("another long password\n", "user", "reset-password", "--email", "ops@example.com", "--password-stdin")
	if code != 0 {
		t.Fatalf("reset-password: %d %q", code, stderr)
	}
	code, out, _ = c.run("", "user", "list")
	if code != 0 || !strings.Contains(out, "ops@example.com") || !strings.Contains(out, "admin") || strings.Count(out, "\n") != 2 {
		t.Errorf("list: %d %q", code, out)
	}
	// Everything above is in the audit log, and the chain verifies.
	code, out, _ = c.run("", "audit", "export")
	if code != 0 {
		t.Fatalf("export: %d", code)
	}
	var events []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var rec struct {
			Event string `json:"event"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		events = append(events, rec.Event)
	}
	if strings.Join(events, ",") != "user.created,user.password_changed" {
		t.Errorf("exported events = %v", events)
	}
	if strings.Contains(out, "another long password") || strings.Contains(out, "a long enough password") {
		t.Error("a password reached the audit log")
	}
	code, out, _ = c.run("", "audit", "verify")
	if code != 0 || !strings.Contains(out, "2 records verified") {
		t.Errorf("verify: %d %q", code, out)
	}
}

func TestAuditExportRange(t *testing.T) {
	c := newCLI(t)
	if code, _, stderr := c.run("a long enough password\n", "user", "create", "--email", "a@example.com", "--role", "admin", "--password-stdin"); code != 0 {
		t.Fatal(stderr)
	}
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	if code, out, _ := c.run("", "audit", "export", "--from", future); code != 0 || out != "" {
		t.Errorf("future export: %d %q", code, out)
	}
	if code, out, _ := c.run("", "audit", "export", "--from", past, "--to", future); code != 0 || strings.Count(out, "\n") != 1 {
		t.Errorf("range export: %d %q", code, out)
	}
	if code, _, stderr := c.run("", "audit", "export", "--from", "yesterday"); code != 2 || !strings.Contains(stderr, "RFC 3339") {
		t.Errorf("bad --from: %d %q", code, stderr)
	}
}

// TestAuditVerifyDetectsTampering edits rows behind the server's back, as an
// attacker with file access would (dropping the append-only triggers first),
// and expects verify to name the first altered record.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	tamper := []struct {
		name string
		sql  []string
		id   string
	}{
		{"payload edited", []string{`UPDATE audit_log SET payload = '{"email":"mallory@example.com","role":"admin"}' WHERE id = 2`}, "2"},
		{"record deleted", []string{`DELETE FROM audit_log WHERE id = 2`}, "3"},
		{"hash recomputed but chain broken", []string{`UPDATE audit_log SET actor_id = 'someone-else', hash = 'ff' WHERE id = 3`}, "3"},
		{"time moved", []string{`UPDATE audit_log SET at_ms = at_ms - 86400000 WHERE id = 1`}, "1"},
	}
	for _, tc := range tamper {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(t)
			for i := 0; i < 3; i++ {
				email := fmt.Sprintf("u%d@example.com", i)
				if code, _, stderr := c.run("a long enough password\n", "user", "create", "--email", email, "--role", "viewer", "--password-stdin"); code != 0 {
					t.Fatal(stderr)
				}
			}
			if code, out, _ := c.run("", "audit", "verify"); code != 0 {
				t.Fatalf("untouched chain: %d %q", code, out)
			}
			db, err := sql.Open("sqlite", filepath.Join(c.env["NEXPLANE_DATA_DIR"], "nexplane.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// The database refuses the edit while its triggers stand.
			if _, err := db.Exec(tc.sql[0]); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Fatalf("tamper with triggers in place: err = %v, want append-only refusal", err)
			}
			rows, err := db.Query(`SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'`)
			if err != nil {
				t.Fatal(err)
			}
			var triggers []string
			for rows.Next() {
				var n string
				_ = rows.Scan(&n)
				triggers = append(triggers, n)
			}
			rows.Close()
			for _, trg := range triggers {
				if _, err := db.Exec("DROP TRIGGER " + trg); err != nil {
					t.Fatal(err)
				}
			}
			for _, q := range tc.sql {
				if _, err := db.Exec(q); err != nil {
					t.Fatal(err)
				}
			}
			code, _, stderr := c.run("", "audit", "verify")
			if code != 1 || !strings.Contains(stderr, "BROKEN at record "+tc.id+":") {
				t.Errorf("verify after tamper: exit %d %q, want 1 naming record %s", code, stderr, tc.id)
			}
		})
	}
}

// syncBuffer lets the test read a running server's output safely.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var addrRE = regexp.MustCompile(`addr=(\S+)`)

// startServer runs `nexplane serve` in-process on a loopback port and
// returns its base URL once it listens.
func startServer(t *testing.T, c *cli) (base string, stdout *syncBuffer) {
	t.Helper()
	c.env["NEXPLANE_LISTEN"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	out, errb := &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve"}, c.newEnv(strings.NewReader(""), out, errb)) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("server exit %d: %s", code, errb.String())
			}
		case <-time.After(15 * time.Second):
			t.Error("server did not shut down")
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := addrRE.FindStringSubmatch(errb.String()); m != nil {
			scheme := "https"
			if c.env["NEXPLANE_INSECURE_HTTP"] == "1" {
				scheme = "http"
			}
			return scheme + "://" + m[1], out
		}
		select {
		case code := <-done:
			t.Fatalf("server exited %d: %s", code, errb.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("server never listened: %s", errb.String())
	return "", nil
}

func insecureClient() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // self-signed test server
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func TestServeEndToEnd(t *testing.T) {
	c := newCLI(t)
	base, stdout := startServer(t, c)
	if !strings.Contains(stdout.String(), "/setup?token=") {
		t.Errorf("first start did not print a setup link: %q", stdout.String())
	}
	hc := insecureClient()
	get := func(path string) (*http.Response, string) {
		resp, err := hc.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, _ := get("/healthz")
	if resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("healthz not over TLS 1.2+: %+v", resp.TLS)
	}
	resp, body := get("/readyz")
	if resp.StatusCode != 200 || !strings.Contains(body, "ready") {
		t.Errorf("readyz: %d %s", resp.StatusCode, body)
	}
	for _, h := range []string{"Content-Security-Policy", "Strict-Transport-Security", "X-Content-Type-Options", "Referrer-Policy"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("missing header %s", h)
		}
	}
	if resp.Header.Get("Server") != "" {
		t.Errorf("Server banner: %q", resp.Header.Get("Server"))
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
		t.Errorf("CSP: %q", resp.Header.Get("Content-Security-Policy"))
	}
	resp, _ = get("/")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("GET / unauthenticated: %d -> %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	// A second server on the same port fails with one clear line.
	c2 := newCLI(t)
	c2.env["NEXPLANE_LISTEN"] = strings.TrimPrefix(base, "https://")
	code, _, stderr := c2.run("", "serve")
	if code != 2 || !strings.Contains(stderr, "address already in use") {
		t.Errorf("port in use: %d %q", code, stderr)
	}

	// The CLI creates a user while the server runs; the API logs them in.
	if code, _, stderr := c.run("a long enough password\n", "user", "create", "--email", "admin@example.com", "--role", "admin", "--password-stdin"); code != 0 {
		t.Fatal(stderr)
	}
	r, err := hc.Post(base+"/api/v1/auth/login", "application/json", strings.NewReader(`{"email":"admin@example.com","password":"a long enough password"}`))
	if err != nil {
		t.Fatal(err)
	}
	var login map[string]any
	_ = json.NewDecoder(r.Body).Decode(&login)
	r.Body.Close()
	if r.StatusCode != 200 || login["token"] == nil {
		t.Fatalf("login: %d %v", r.StatusCode, login)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("login response Cache-Control %q", r.Header.Get("Cache-Control"))
	}
}

func TestServeInsecureHTTP(t *testing.T) {
	c := newCLI(t)
	c.env["NEXPLANE_INSECURE_HTTP"] = "1"
	base, _ := startServer(t, c)
	resp, err := insecureClient().Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("insecure healthz: %d HSTS=%q", resp.StatusCode, resp.Header.Get("Strict-Transport-Security"))
	}
}

func TestMigrateCommand(t *testing.T) {
	c := newCLI(t)
	delete(c.env, "SECRET_KEY") // migrate needs no secret
	code, out, stderr := c.run("", "migrate")
	if code != 0 || !strings.Contains(out, "schema at version") {
		t.Errorf("migrate: %d %q %q", code, out, stderr)
	}
}
