package web_test

import (
	"context"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
	"github.com/nexplane/nexplane/app/engine"
)

// changeTimelineScreenshot shows a finished request's timeline.
const changeTimelineScreenshot = "/tmp/nexplane-change-timeline.png"

// isoUTCRe is a timeline time: UTC, ISO 8601, to the second.
var isoUTCRe = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)

// timelineEntry is one timeline step as the browser shows it.
type timelineEntry struct {
	Kind  string `json:"kind"`
	Title string `json:"title"`
	Actor string `json:"actor"`
	At    string `json:"at"`
	Ago   string `json:"ago"`
}

// readTimeline reads the timeline the page shows now.
const readTimeline = `[...document.querySelectorAll('[data-testid="timeline-entry"]')].map(li => ({
	kind: li.dataset.kind,
	title: li.querySelector('[data-testid="timeline-title"]').innerText,
	actor: li.querySelector('[data-testid="timeline-actor"]').innerText,
	at: li.querySelector('[data-testid="timeline-at"]').innerText,
	ago: li.querySelector('[data-testid="timeline-ago"]').innerText}))`

func timelineKindsOf(entries []timelineEntry) []string {
	kinds := make([]string, len(entries))
	for i, e := range entries {
		kinds[i] = e.Kind
	}
	return kinds
}

// startEngine runs a real engine over the env's store until stop is called;
// stop waits for it to drain.
func startEngine(t *testing.T, e *env) (stop func()) {
	t.Helper()
	k := e.kit
	eng := engine.New(engine.Config{Store: k.DB, Registry: k.Registry, Sealer: k.Vault, Logger: k.Log, Clock: k.Clock.Now,
		Poll: 50 * time.Millisecond, DrainTimeout: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); eng.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// TestBrowserChangeTimeline: the operator watches an executing request in
// the browser. The timeline lists each step in order with who and when;
// while the request executes the live block adds the steps the engine
// records (here a hand-back when a server stopped mid-run, without the
// page reloading), and when it ends the page shows every operation's start
// and end, the result, executed by and the duration, with the raw JSON
// result hidden until its disclosure is opened.
func TestBrowserChangeTimeline(t *testing.T) {
	ctx := newBrowser(t)
	dir := ldaptest.Start(t)
	e := newEnv(t, envOpts{headers: true, noEngine: true})
	e.seedUser("ops@example.com", app.RoleOperator)
	e.seedUser("approver@example.com", app.RoleApprover)
	conn := e.ldapConnector(dir, 1)
	ops, appr := e.client(), e.client()
	e.login(ops, "ops@example.com")
	e.login(appr, "approver@example.com")
	path := e.createChange(ops, conn.ID, "Offboard bob and alice", uidOp("ldap.user.disable", "bob"), uidOp("ldap.user.disable", "alice"))
	e.clock.Advance(time.Minute)
	e.mustPost(ops, path, "submit", nil)
	e.clock.Advance(time.Minute)
	e.mustPost(appr, path, "approve", url.Values{"comment": {"ticket checked"}})
	e.clock.Advance(time.Minute)
	// No engine runs yet: the request waits, executing, in the queue.
	e.mustPost(ops, path, "execute", nil)
	id := changeIDOf(t, path)

	var mu sync.Mutex
	var problems []string
	watchProblems(t, ctx, "operator", &mu, &problems)
	browserLogin(t, ctx, e.srv.URL, "ops@example.com")
	step(t, ctx, "open the request", chromedp.Navigate(e.srv.URL+path))
	step(t, ctx, "polling", chromedp.WaitVisible(byTestID("change-polling")))
	entries := step(t, ctx, "read timeline", chromedp.Evaluate[[]timelineEntry](readTimeline))
	if got, want := timelineKindsOf(entries), []string{"created", "submitted", "approved", "executed"}; !slices.Equal(got, want) {
		t.Fatalf("timeline %v, want %v", got, want)
	}
	for i, who := range []string{"ops@example.com", "ops@example.com", "approver@example.com", "ops@example.com"} {
		if en := entries[i]; en.Actor != who || !isoUTCRe.MatchString(en.At) || en.Ago == "" {
			t.Errorf("entry %d: %+v, want by %s at an ISO UTC time with a hint", i, en, who)
		}
	}
	if entries[0].At >= entries[1].At || entries[2].Title != "Approved revision 1 (1 of 1 required approvals)" {
		t.Errorf("entries %+v", entries)
	}
	// A full page load would lose this mark; an htmx swap keeps it.
	step(t, ctx, "mark the page", chromedp.Evaluate[bool](`window.nxpSamePage = true`))

	// A server claims the request and stops while the directory does not
	// answer: it hands the request back, still executing.
	if err := dir.Pause(); err != nil {
		t.Fatal(err)
	}
	stopA := startEngine(t, e)
	waitChange(t, e, id, "claimed", func(c *app.ChangeRequest) bool { return c.LeaseOwner != "" })
	stopA()
	if err := dir.Resume(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, "the hand-back in the live timeline", func() bool {
		en, ok := peek(ctx, chromedp.Evaluate[[]timelineEntry](readTimeline))
		return ok && slices.Equal(timelineKindsOf(en), []string{"created", "submitted", "approved", "executed", "requeued"})
	})
	if same, _ := peek(ctx, chromedp.Evaluate[bool](`window.nxpSamePage === true`)); !same {
		t.Fatal("the page reloaded: the live block did not add the step itself")
	}
	waitText(t, ctx, "still executing", "change-status", "executing")

	// Another server runs it to the end, ninety seconds later.
	e.clock.Advance(90 * time.Second)
	startEngine(t, e)
	waitText(t, ctx, "succeeded", "change-status", "succeeded")
	entries = step(t, ctx, "read final timeline", chromedp.Evaluate[[]timelineEntry](readTimeline))
	want := []string{"created", "submitted", "approved", "executed", "requeued", "operation_started", "operation_finished",
		"operation_started", "operation_finished", "finished"}
	if got := timelineKindsOf(entries); !slices.Equal(got, want) {
		t.Fatalf("final timeline %v, want %v", got, want)
	}
	for i, title := range map[int]string{5: "Operation 1 (ldap.user.disable) started", 6: "Operation 1 (ldap.user.disable) succeeded",
		8: "Operation 2 (ldap.user.disable) succeeded", 9: "Finished: succeeded"} {
		if !strings.HasPrefix(entries[i].Title, title) || entries[i].Actor != "Nexplane (engine)" {
			t.Errorf("entry %d: %+v, want %q by the engine", i, entries[i], title)
		}
	}
	if by := step(t, ctx, "executed by", chromedp.Text(byTestID("change-executed-by"))); !strings.Contains(by, "ops@example.com") {
		t.Errorf("executed by %q", by)
	}
	if d := step(t, ctx, "duration", chromedp.Text(byTestID("change-duration"))); d != "1m30s" {
		t.Errorf("duration %q, want 1m30s", d)
	}

	// The raw JSON result is there, but hidden until asked for.
	if txt, _ := peek(ctx, chromedp.Text(byTestID("change-op-details"))); txt != "" {
		t.Errorf("raw result shown before the disclosure is opened: %q", txt)
	}
	step(t, ctx, "open the raw result", chromedp.Click(chromedp.CSS(`[data-testid="change-op-raw"] summary`)))
	if txt := step(t, ctx, "raw result", chromedp.Text(byTestID("change-op-details"))); !strings.Contains(txt, `"uid": "bob"`) {
		t.Errorf("raw result %q", txt)
	}
	screenshot(t, ctx, changeTimelineScreenshot)

	mu.Lock()
	defer mu.Unlock()
	for _, p := range problems {
		t.Errorf("browser reported: %s", p)
	}
}

// waitChange waits until the stored request satisfies cond.
func waitChange(t *testing.T, e *env, id int64, what string, cond func(*app.ChangeRequest) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := e.svc.GetChange(context.Background(), app.SystemActor("test"), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(c) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("change %d: timed out waiting until %s (it is %s)", id, what, c.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
