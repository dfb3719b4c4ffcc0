package httpx

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func TestRetryAfter(t *testing.T) {
	limited := func(d time.Duration) error {
		return &app.Error{Code: app.ERATELIMITED, Message: "slow down", RetryAfter: d}
	}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"whole seconds", limited(3 * time.Second), "3"},
		{"rounded up", limited(1500 * time.Millisecond), "2"},
		{"under a second", limited(time.Millisecond), "1"},
		{"wrapped", fmt.Errorf("login: %w", limited(2*time.Second)), "2"},
		{"no wait known", limited(0), ""},
		{"unavailable with a wait", &app.Error{Code: app.EUNAVAILABLE, RetryAfter: 2 * time.Second}, "2"},
		{"unavailable, wait unknown", fmt.Errorf("list: %w", app.Errorf(app.EUNAVAILABLE, "database down")), "5"},
		{"other code", &app.Error{Code: app.ECONFLICT, RetryAfter: time.Second}, ""},
		{"internal", fmt.Errorf("boom"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			RetryAfter(w, tc.err)
			if got := w.Header().Get("Retry-After"); got != tc.want {
				t.Errorf("Retry-After = %q, want %q", got, tc.want)
			}
		})
	}
}
