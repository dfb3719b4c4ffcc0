package app

import (
	"net/netip"
	"strings"
)

// IsLoopbackHost reports whether host (a URL's host name, without port or
// brackets) names this machine: localhost, 127.0.0.0/8 or ::1. Drivers let
// credentials travel without TLS only to such hosts, where they never cross
// a network (tests and emulators).
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Zone() == "" && a.Unmap().IsLoopback()
}
