package engine_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
	"github.com/nexplane/nexplane/app/engine"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// TestSucceededHook: the hook (serve's targeted sync) runs once for a
// request that succeeded, after it is recorded succeeded, never for one
// that failed, and its error leaves the request succeeded.
func TestSucceededHook(t *testing.T) {
	testkit.BothDrivers(t, func(t *testing.T, driver string) {
		dir := ldaptest.Start(t)
		var mu sync.Mutex
		var calls []int64
		var states []app.ChangeState
		var db *store.DB // set before the engine starts
		k := testkit.NewService(t, testkit.Options{
			Driver: driver,
			Drivers: func(reg *app.Registry, d *store.DB, _ *testkit.Clock) {
				ldap.Register(reg)
				db = d
			},
			// One worker: a request's hook (or its absence) is over before
			// the next request is claimed.
			Engine: &engine.Config{Poll: 20 * time.Millisecond, Workers: 1,
				Succeeded: func(ctx context.Context, id int64) error {
					c, err := db.ChangeRequestByID(ctx, id)
					if err != nil {
						return err
					}
					mu.Lock()
					defer mu.Unlock()
					calls, states = append(calls, id), append(states, c.State)
					return errors.New("target unreachable")
				}},
		})
		ctx := context.Background()
		op, appr := operatorAndApprover(t, k.Service)
		conn, err := k.Service.CreateConnector(ctx, app.SystemActor("test"), app.ConnectorInput{Name: "dir", Type: "ldap",
			Config: dir.ConfigJSON(), Credentials: dir.CredentialsJSON()})
		if err != nil {
			t.Fatal(err)
		}
		// Bob is deleted in the directory after approval: the request fails.
		failing := approvedChange(ctx, t, k.Service, op, appr, app.ChangeInput{Title: "lock bob", ConnectorID: conn.ID,
			Operations: []app.OpInput{{Type: "ldap.user.disable", Params: []byte(`{"uid":"bob"}`)}}})
		if err := dir.Admin(t).Del(goldap.NewDelRequest("uid=bob,"+ldaptest.UserBase, nil)); err != nil {
			t.Fatal(err)
		}
		working := approvedChange(ctx, t, k.Service, op, appr, app.ChangeInput{Title: "new user", ConnectorID: conn.ID,
			Operations: []app.OpInput{{Type: "ldap.user.create", Params: []byte(`{"uid":"carol","cn":"Carol","sn":"Doe","mail":"carol@example.org"}`)}}})
		for _, id := range []int64{failing, working} {
			if _, err := k.Service.ExecuteChange(ctx, op, id, app.ExecuteInput{}); err != nil {
				t.Fatal(err)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			mu.Lock()
			n := len(calls)
			mu.Unlock()
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the hook never ran")
			}
			time.Sleep(10 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(calls, []int64{working}) || !slices.Equal(states, []app.ChangeState{app.StateSucceeded}) {
			t.Errorf("hook calls %v in states %v, want only %d once it succeeded", calls, states, working)
		}
		for id, want := range map[int64]app.ChangeState{failing: app.StateFailed, working: app.StateSucceeded} {
			c, err := k.Service.GetChange(ctx, op, id)
			if err != nil || c.State != want {
				t.Errorf("change %d: %v %v, want %s", id, c.State, err, want)
			}
		}
	})
}
