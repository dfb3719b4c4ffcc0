package web_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
)

var (
	timelineKindRe = regexp.MustCompile(`data-testid="timeline-entry" data-kind="([a-z_]+)"`)
	timelineAtRe   = regexp.MustCompile(`<time datetime="(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)" data-testid="timeline-at">(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)</time>`)
	// The raw result is the only thing inside its closed disclosure.
	rawResultRe = regexp.MustCompile(`<details class="raw-result" data-testid="change-op-raw"><summary>Raw result \(JSON\)</summary><pre class="payload" data-testid="change-op-details">`)
)

func timelineKinds(body string) []string {
	var kinds []string
	for _, m := range timelineKindRe.FindAllStringSubmatch(body, -1) {
		kinds = append(kinds, m[1])
	}
	return kinds
}

// TestChangeDetailTimeline: the detail page of an executed request shows its
// timeline in order, each step with who and when (UTC, ISO 8601, with a
// relative hint), executed by and the duration in the summary, and the raw
// JSON result behind a closed disclosure; the live fragment carries the
// timeline too.
func TestChangeDetailTimeline(t *testing.T) {
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{})
	e.seedUser("ops@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)
	e.seedUser("viewer@example.com", app.RoleViewer)
	conn := e.ldapConnector(dir, 1)
	ops, appr, viewer := e.client(), e.client(), e.client()
	e.login(ops, "ops@example.com")
	e.login(appr, "approver@example.com")
	e.login(viewer, "viewer@example.com")
	path, c := e.runChange(ops, appr, conn.ID, "Disable bob and alice", app.StateSucceeded,
		uidOp("ldap.user.disable", "bob"), uidOp("ldap.user.disable", "alice"))

	want := []string{"created", "submitted", "approved", "executed", "operation_started", "operation_finished",
		"operation_started", "operation_finished", "finished"}
	e.clock.Advance(20*time.Minute + 30*time.Second) // within the session idle timeout
	r := e.get(viewer, path)
	if got := timelineKinds(r.body); !slices.Equal(got, want) {
		t.Fatalf("timeline %v, want %v", got, want)
	}
	ats := timelineAtRe.FindAllStringSubmatch(r.body, -1)
	if len(ats) != len(want) {
		t.Fatalf("%d ISO times for %d entries", len(ats), len(want))
	}
	if at := c.FinishedAt.UTC().Format("2006-01-02T15:04:05Z"); ats[len(ats)-1][1] != at {
		t.Errorf("final step at %s, want %s", ats[len(ats)-1][1], at)
	}
	requireContains(t, r, `data-testid="timeline-ago">20 minutes ago<`,
		`data-testid="timeline-title">Approved revision 1 (1 of 1 required approvals)<`,
		`data-testid="timeline-actor">approver@example.com<`, `data-testid="timeline-detail">ok<`,
		`data-testid="timeline-title">Operation 2 (ldap.user.disable) succeeded<`, "locked uid=alice (cn=Alice Doe)",
		`data-testid="timeline-actor">Nexplane (engine)<`, `data-testid="timeline-title">Finished: succeeded<`,
		`data-testid="change-executed-by">`, `data-testid="change-duration">0 ms<`,
		`href="/audit?resource_type=change_request&amp;resource_id=`)
	if i := strings.Index(r.body, `data-testid="change-executed-by">`); i < 0 || !strings.HasPrefix(strings.TrimSpace(r.body[i+len(`data-testid="change-executed-by">`):]), "ops@example.com") {
		t.Error("executed by does not name the operator")
	}
	if n := len(rawResultRe.FindAllString(r.body, -1)); n != 2 || strings.Contains(r.body, `data-testid="change-op-raw" open`) {
		t.Errorf("%d raw results behind a closed disclosure, want 2", n)
	}

	live := e.get(viewer, path+"/live", "HX-Request", "true")
	if got := timelineKinds(live.body); !slices.Equal(got, want) || strings.Contains(live.body, "<html") {
		t.Errorf("live fragment timeline %v", got)
	}
}
