// Package testkit is the harness the tests share: a controllable clock, a
// Service over a real store with the common test configuration, user
// fixtures, and an httptest server wired as the server wires its handlers.
//
// It imports testing, so only tests may import it; cmd/nexplane's
// TestBinariesDoNotLinkTesting keeps it out of the binaries. It imports app
// and its leaves (auth, vault, pki, engine, httpx, store) but no connector
// or dispatch, so the internal tests of those packages can use it too.
package testkit
