package app_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/internal/testkit"
)

// A login storm against a tiny hashing pool: callers beyond the queue are
// told to come back (EUNAVAILABLE with a wait), every other correct login
// succeeds, and no turned-away login counts as a failure, so the same user
// is not locked out afterwards.
func TestLoginStormOnTinyHashPool(t *testing.T) {
	env := testkit.NewService(t, testkit.Options{Configure: func(c *app.Config) {
		// Cost 10 makes each hash long enough (tens of ms) for the storm
		// to overlap; one slot and one waiter make the queue tiny.
		c.Hasher = auth.NewHasherQueue(10, 1, 1)
	}})
	testkit.MustCreateUser(t, env.Service, "storm@example.com", app.RoleViewer)

	const logins = 24
	start := make(chan struct{})
	errs := make([]error, logins)
	var wg sync.WaitGroup
	for i := range logins {
		wg.Go(func() {
			<-start
			_, errs[i] = env.Service.Login(t.Context(), app.LoginInput{
				Email: "storm@example.com", Password: testkit.TestPassword, ClientAddr: "10.0.0.1"})
		})
	}
	close(start)
	wg.Wait()

	ok, busy := 0, 0
	for _, err := range errs {
		var ae *app.Error
		switch {
		case err == nil:
			ok++
		case app.ErrCode(err) == app.EUNAVAILABLE && errors.As(err, &ae) && ae.RetryAfter > 0:
			busy++
		default:
			t.Errorf("login = %v, want success or unavailable with Retry-After", err)
		}
	}
	if ok == 0 || busy == 0 {
		t.Fatalf("%d succeeded, %d turned away; want some of each", ok, busy)
	}
	// Had the turned-away logins counted as failures, the limiter would
	// refuse this one.
	for range 3 {
		if _, err := env.Service.Login(t.Context(), app.LoginInput{
			Email: "storm@example.com", Password: testkit.TestPassword, ClientAddr: "10.0.0.1"}); err != nil {
			t.Fatalf("login after the storm = %v", err)
		}
	}
}
