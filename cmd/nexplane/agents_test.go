package main

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app/pki"
)

// freePort reserves a loopback port and releases it for the server.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestServeStartsAgentListener(t *testing.T) {
	c := newCLI(t)
	agentAddr := freePort(t)
	c.env["NEXPLANE_AGENT_LISTEN"] = agentAddr
	startServer(t, c)

	// The agent listener speaks TLS with a CA-signed chain and refuses
	// agent routes without a client certificate.
	var chain [][]byte
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // the test inspects the chain itself
		VerifyConnection: func(cs tls.ConnectionState) error {
			for _, c := range cs.PeerCertificates {
				chain = append(chain, c.Raw)
			}
			return nil
		},
	}}}
	resp, err := hc.Get("https://" + agentAddr + ops.PathWork)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(b), "client certificate") {
		t.Errorf("poll without certificate: %d %s", resp.StatusCode, b)
	}
	if len(chain) != 2 || len(pki.Fingerprint(chain[1])) != 64 {
		t.Errorf("chain has %d certificates, want leaf and CA", len(chain))
	}

	// A second server on the same agent port fails with one clear line.
	c2 := newCLI(t)
	c2.env["NEXPLANE_AGENT_LISTEN"] = agentAddr
	c2.env["NEXPLANE_LISTEN"] = "127.0.0.1:0"
	code, _, stderr := c2.run("", "serve")
	if code != 2 || !strings.Contains(stderr, "NEXPLANE_AGENT_LISTEN "+agentAddr+": address already in use") {
		t.Errorf("agent port in use: %d %q", code, stderr)
	}
}

func TestAgentConfigErrors(t *testing.T) {
	for _, tc := range []struct{ key, val, want string }{
		{"NEXPLANE_AGENT_CERT_TTL", "1s", "NEXPLANE_AGENT_CERT_TTL must be"},
		{"NEXPLANE_AGENT_CERT_TTL", "soon", "NEXPLANE_AGENT_CERT_TTL must be"},
		{"NEXPLANE_AGENT_LISTEN", "8444", "NEXPLANE_AGENT_LISTEN must be"},
		{"NEXPLANE_AGENT_PUBLIC_URL", "http://x:8444", "NEXPLANE_AGENT_PUBLIC_URL must be"},
	} {
		c := newCLI(t)
		c.env[tc.key] = tc.val
		code, _, stderr := c.run("", "serve")
		if code != 2 || !strings.Contains(stderr, tc.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s=%s: %d %q", tc.key, tc.val, code, stderr)
		}
	}
}

func TestAgentListenerOff(t *testing.T) {
	c := newCLI(t)
	c.env["NEXPLANE_AGENT_LISTEN"] = "off"
	startServer(t, c) // starts, with a warning, and serves the rest
}
