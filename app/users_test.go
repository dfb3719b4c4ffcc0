package app_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/auth"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
	"github.com/nexplane/nexplane/store/storetest"
)

// Two admins demoting or disabling each other at the same moment must leave
// one admin: the guard counts under a lock, so the second request sees the
// first one's change and is refused.
func TestLastActiveAdminGuardUnderConcurrency(t *testing.T) {
	storetest.MustOpenBoth(t, func(t *testing.T, db *store.DB) {
		ctx := t.Context()
		svc := app.NewService(app.Config{Store: db, Hasher: auth.NewHasher(4, 2)})
		a := testkit.MustCreateUser(t, svc, "a@example.com", app.RoleAdmin)
		b := testkit.MustCreateUser(t, svc, "b@example.com", app.RoleAdmin)
		viewer, admin, yes, no := string(app.RoleViewer), string(app.RoleAdmin), true, false
		patches := []app.UserPatch{{Role: &viewer}, {Disabled: &yes}}
		restore := app.UserPatch{Role: &admin, Disabled: &no}
		for i := range 50 {
			// Each admin acts on the other; the kinds of change alternate.
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, 2)
			for j, pair := range [][2]*app.User{{a, b}, {b, a}} {
				actor, target := app.UserActor(pair[0]), pair[1].ID
				p := patches[(i+j)%2]
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[j] = svc.UpdateUser(ctx, actor, target, p)
				}()
			}
			close(start)
			wg.Wait()
			if n := countActiveAdmins(t, db); n < 1 {
				t.Fatalf("round %d: no active admin left (errors: %v, %v)", i, errs[0], errs[1])
			}
			failed := 0
			for _, err := range errs {
				if err == nil {
					continue
				}
				failed++
				if app.ErrCode(err) != app.ECONFLICT || !strings.Contains(err.Error(), "last active admin") {
					t.Fatalf("round %d: refusal = %v, want a conflict naming the last active admin", i, err)
				}
			}
			if failed != 1 {
				t.Fatalf("round %d: %d requests refused, want exactly 1 (errors: %v, %v)", i, failed, errs[0], errs[1])
			}
			for _, u := range []*app.User{a, b} {
				if _, err := svc.UpdateUser(ctx, app.SystemActor("test"), u.ID, restore); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}

func TestLastActiveAdminCannotBeDemotedOrDisabled(t *testing.T) {
	env := testkit.NewService(t, testkit.Options{})
	ctx := context.Background()
	a := testkit.MustCreateUser(t, env.Service, "a@example.com", app.RoleAdmin)
	viewer, yes := string(app.RoleViewer), true
	for _, p := range []app.UserPatch{{Role: &viewer}, {Disabled: &yes}} {
		if _, err := env.Service.UpdateUser(ctx, app.UserActor(a), a.ID, p); app.ErrCode(err) != app.ECONFLICT {
			t.Errorf("UpdateUser(last admin, %+v) = %v, want conflict", p, err)
		}
	}
}

func countActiveAdmins(t *testing.T, db *store.DB) int {
	t.Helper()
	us, err := db.ListUsers(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, u := range us {
		if u.Role == app.RoleAdmin && !u.Disabled {
			n++
		}
	}
	return n
}
