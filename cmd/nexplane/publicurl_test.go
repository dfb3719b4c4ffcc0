package main

import (
	"flag"
	"strings"
	"testing"
)

// TestPublicURLConfig: NEXPLANE_PUBLIC_URL must be https://host[:port]
// with a DNS name (passkeys refuse IP addresses as RP IDs).
func TestPublicURLConfig(t *testing.T) {
	for _, bad := range []string{"http://nexplane.example", "https://10.0.0.1:8443", "https://[::1]", "nexplane.example",
		"https://nexplane.example/console", "https://u:p@nexplane.example", "https://nexplane.example/?x=1"} {
		c := newCLI(t)
		c.env["NEXPLANE_PUBLIC_URL"] = bad
		code, _, stderr := c.run("", "serve")
		if code != 2 || !strings.Contains(stderr, "NEXPLANE_PUBLIC_URL must") || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: %d %q", bad, code, stderr)
		}
	}
	for _, good := range []string{"https://nexplane.example", "https://nexplane.example:8443/"} {
		cfg, err := loadConfig(func(k string) string {
			if k == "NEXPLANE_PUBLIC_URL" {
				return good
			}
			return ""
		}, flag.NewFlagSet("serve", flag.ContinueOnError), nil, false)
		if err != nil || cfg.PublicURL != good {
			t.Errorf("%s: %+v, %v", good, cfg, err)
		}
	}
}
