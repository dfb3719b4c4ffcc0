package api_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// recorder is a listener an admin controls and points a connector at: it
// accepts every connection, so a test can see whether the server ever
// dialled it.
type recorder struct {
	addr     string
	accepted chan net.Conn
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{addr: ln.Addr().String(), accepted: make(chan net.Conn, 64)}
	go func() {
		defer close(r.accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.accepted <- c
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return r
}

// requireUntouched fails if anything connected before now. It connects
// itself and waits for that connection to be accepted: the kernel queues
// connections in order, so any earlier one is accepted first.
func (r *recorder) requireUntouched(t *testing.T, secret string) {
	t.Helper()
	probe, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	for c := range r.accepted {
		if c.RemoteAddr().String() == probe.LocalAddr().String() {
			c.Close()
			return
		}
		// Diagnosis only: the failure is already certain.
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		t.Errorf("the server connected to the admin's listener and sent %d bytes (stored secret among them: %v)",
			len(b), strings.Contains(string(b), secret))
	}
	t.Fatal("the recorder stopped before the probe arrived")
}

// TestConnectorTestCannotSendCredentialsElsewhere is the read-back attack:
// an admin, who may not read the stored bind password or AWS key, points
// only the URL or endpoint at a listener they control and presses test.
// The change is refused with credentials_required, and neither the PATCH
// nor the test that follows reaches the listener.
func TestConnectorTestCannotSendCredentialsElsewhere(t *testing.T) {
	e := newAWSEnv(t)
	admin := e.tokens["admin"]
	rec := startRecorder(t)
	secrets := []string{e.dir.BindPassword, e.aws.ConnectorSecretAccessKey}
	leaks := func(what string, body map[string]any) {
		t.Helper()
		for _, s := range secrets {
			if strings.Contains(fmt.Sprint(body), s) {
				t.Errorf("%s: the response holds a stored secret", what)
			}
		}
	}
	testOK := func(path string) {
		t.Helper()
		st, body := e.do("POST", path+"/test", admin, nil)
		leaks("test", body)
		if st != http.StatusOK || body["ok"] != true {
			t.Errorf("test after the refused change: %d %v", st, body)
		}
	}

	t.Run("ldap url", func(t *testing.T) {
		// The directory without TLS, as a lab might run it on the same
		// machine: a bind sent elsewhere would carry the password in clear.
		cfg := func(url string) map[string]any {
			return map[string]any{"url": url, "bind_dn": e.dir.BindDN, "base_dn": e.dir.BaseDN,
				"user_base": e.dir.UserBase, "group_base": e.dir.GroupBase, "insecure_no_tls": true}
		}
		st, created := e.do("POST", "/api/v1/connectors", admin, map[string]any{"name": "lab-directory", "type": "ldap",
			"config": cfg(e.dir.URL), "credentials": jsonRaw(e.dir.CredentialsJSON())})
		if st != http.StatusCreated {
			t.Fatalf("create: %d %v", st, created)
		}
		path := fmt.Sprintf("/api/v1/connectors/%v", created["id"])
		testOK(path)
		for name, body := range map[string]map[string]any{
			"url only":                   {"config": cfg("ldap://" + rec.addr)},
			"url with empty credentials": {"config": cfg("ldap://" + rec.addr), "credentials": map[string]any{}},
		} {
			st, resp := e.do("PATCH", path, admin, body)
			leaks(name, resp)
			want := "credentials_required"
			if name != "url only" {
				want = "invalid" // {} is checked as credentials: bind_password is required
			}
			if st != http.StatusBadRequest || errCode(resp) != want {
				t.Errorf("%s: %d %v, want 400 %s", name, st, resp, want)
			}
		}
		_, got := e.do("GET", path, admin, nil)
		if u := got["config"].(map[string]any)["url"]; u != e.dir.URL {
			t.Errorf("stored url is now %v", u)
		}
		testOK(path)
		rec.requireUntouched(t, e.dir.BindPassword)
	})

	t.Run("aws endpoint and region", func(t *testing.T) {
		path := fmt.Sprintf("/api/v1/connectors/%d", e.connID)
		testOK(path)
		for name, change := range map[string]map[string]any{
			"endpoint_url": {"region": e.aws.Region, "endpoint_url": "http://" + rec.addr},
			"region":       {"region": "eu-west-1", "endpoint_url": e.aws.URL},
		} {
			st, resp := e.do("PATCH", path, admin, map[string]any{"config": change})
			leaks(name, resp)
			if st != http.StatusBadRequest || errCode(resp) != "credentials_required" || !strings.Contains(errMessage(resp), "changing "+name) {
				t.Errorf("%s: %d %v, want 400 credentials_required", name, st, resp)
			}
		}
		testOK(path)
		rec.requireUntouched(t, e.aws.ConnectorSecretAccessKey)
	})
}
