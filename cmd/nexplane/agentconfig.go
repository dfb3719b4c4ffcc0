package main

import (
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nexplane/nexplane/app/pki"
)

// Agent certificate lifetimes accepted from NEXPLANE_AGENT_CERT_TTL: a
// minute (tests of renewal) to five years.
const (
	minAgentCertTTL = time.Minute
	maxAgentCertTTL = 5 * 365 * 24 * time.Hour
)

// loadAgentConfig reads the agent listener's settings from the environment.
func loadAgentConfig(getenv func(string) string, c *config) error {
	c.AgentListen = getenv("NEXPLANE_AGENT_LISTEN")
	if c.AgentListen == "" {
		c.AgentListen = ":8444"
	}
	c.AgentPublicURL = getenv("NEXPLANE_AGENT_PUBLIC_URL")
	if v := getenv("NEXPLANE_AGENT_HOSTNAMES"); v != "" {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				c.AgentHostnames = append(c.AgentHostnames, h)
			}
		}
	}
	c.AgentCertTTL = pki.DefaultAgentCertValidity
	if v := getenv("NEXPLANE_AGENT_CERT_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < minAgentCertTTL || d > maxAgentCertTTL {
			return configErr("NEXPLANE_AGENT_CERT_TTL must be a duration between 1m and 43800h, such as 8760h, not %q", v)
		}
		c.AgentCertTTL = d
	}
	return nil
}

// checkAgentConfig validates what flags may have changed.
func checkAgentConfig(c *config) error {
	if c.AgentListen == "off" {
		return nil
	}
	if _, _, err := net.SplitHostPort(c.AgentListen); err != nil {
		return configErr("NEXPLANE_AGENT_LISTEN must be host:port (such as :8444) or off, not %q", c.AgentListen)
	}
	if c.AgentPublicURL != "" {
		u, err := url.Parse(c.AgentPublicURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return configErr("NEXPLANE_AGENT_PUBLIC_URL must be https://host[:port], not %q", c.AgentPublicURL)
		}
	}
	return nil
}

// agentPublicURL is NEXPLANE_AGENT_PUBLIC_URL, or https://<hostname>:<port>
// of the listener's address (port: the one actually bound).
func agentPublicURL(c *config, boundAddr string) string {
	if c.AgentPublicURL != "" {
		return strings.TrimRight(c.AgentPublicURL, "/")
	}
	_, port, err := net.SplitHostPort(boundAddr)
	if err != nil {
		port = "8444"
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return "https://" + net.JoinHostPort(host, port)
}
