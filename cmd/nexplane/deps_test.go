package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestBinariesDoNotLinkTesting keeps test support (store/storetest and the
// like) out of what ships: a production import of a package that imports
// "testing" would link it into the binaries.
func TestBinariesDoNotLinkTesting(t *testing.T) {
	for _, pkg := range []string{".", "../nexplane-agent"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
		}
		if deps := strings.Fields(string(out)); slices.Contains(deps, "testing") {
			t.Errorf("%s links package testing", pkg)
		}
	}
}
