package engine_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/ldap"
	"github.com/nexplane/nexplane/app/connector/ldap/ldaptest"
	"github.com/nexplane/nexplane/app/engine"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
)

// sickServer forwards to the directory at upstream (host:port) until
// silence is closed; from then on it accepts connections and never answers,
// like a directory whose process hangs. accepted receives once per silent
// connection.
func sickServer(t *testing.T, upstream string, silence <-chan struct{}) (addr string, accepted <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{}, 100)
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			select {
			case <-silence:
				ch <- struct{}{}
				continue
			default:
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, up)
			mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String(), ch
}

func createUserOp(uid string) []app.OpInput {
	params := fmt.Sprintf(`{"uid":%q,"cn":"User %s","sn":"Test","mail":"%s@example.org"}`, uid, uid, uid)
	return []app.OpInput{{Type: "ldap.user.create", Params: []byte(params)}}
}

// TestHungConnectorHoldsOnlyItsOwnSlots: five requests stuck on a directory
// that never answers take only that connector's slots; a request on a
// healthy directory runs to the end while they are still stuck.
func TestHungConnectorHoldsOnlyItsOwnSlots(t *testing.T) {
	dir := ldaptest.Start(t)
	silence := make(chan struct{})
	sickAddr, accepted := sickServer(t, strings.TrimPrefix(dir.URL, "ldap://"), silence)
	k := testkit.NewService(t, testkit.Options{
		Drivers: func(reg *app.Registry, _ *store.DB, _ *testkit.Clock) { ldap.Register(reg) },
		Engine:  &engine.Config{Poll: time.Hour, Workers: 4, PerConnector: 2}, // pick-up by notification only
	})
	ctx, svc := t.Context(), k.Service
	sys := app.SystemActor("test")
	op, appr := operatorAndApprover(t, svc)
	healthy, err := svc.CreateConnector(ctx, sys, app.ConnectorInput{Name: "healthy", Type: "ldap", Config: dir.ConfigJSON(), Credentials: dir.CredentialsJSON()})
	if err != nil {
		t.Fatal(err)
	}
	var silentCfg map[string]any
	if err := json.Unmarshal(dir.ConfigJSON(), &silentCfg); err != nil {
		t.Fatal(err)
	}
	silentCfg["url"] = "ldap://" + sickAddr
	silentJSON, _ := json.Marshal(silentCfg)
	silent, err := svc.CreateConnector(ctx, sys, app.ConnectorInput{Name: "silent", Type: "ldap", Config: silentJSON, Credentials: dir.CredentialsJSON()})
	if err != nil {
		t.Fatal(err)
	}

	// Planned while the directory answers; it falls silent before they run.
	var stuck []int64
	for i := range 5 {
		stuck = append(stuck, approvedChange(ctx, t, svc, op, appr, app.ChangeInput{Title: fmt.Sprint("stuck ", i),
			ConnectorID: silent.ID, Operations: createUserOp(fmt.Sprint("stuck", i))}))
	}
	close(silence)
	for _, id := range stuck {
		if _, err := svc.ExecuteChange(ctx, op, id, app.ExecuteInput{}); err != nil {
			t.Fatal(err)
		}
	}
	// The silent connector's two slots are taken: two connections hang.
	<-accepted
	<-accepted

	id := approvedChange(ctx, t, svc, op, appr, app.ChangeInput{Title: "healthy", ConnectorID: healthy.ID, Operations: createUserOp("healthy")})
	if _, err := svc.ExecuteChange(ctx, op, id, app.ExecuteInput{}); err != nil {
		t.Fatal(err)
	}
	for {
		c, err := svc.GetChange(ctx, op, id)
		if err != nil {
			t.Fatal(err)
		}
		if c.State == app.StateSucceeded {
			break
		}
		if c.State != app.StateExecuting {
			t.Fatalf("healthy change ended %s: %s", c.State, c.Operations[0].Error)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not waiting out a deadline
	}
	for _, sid := range stuck {
		c, err := svc.GetChange(ctx, op, sid)
		if err != nil {
			t.Fatal(err)
		}
		if c.State != app.StateExecuting {
			t.Errorf("stuck change %d is %s, want still executing (the healthy one should not have waited for it)", sid, c.State)
		}
	}
	select {
	case <-accepted:
		t.Error("a third connection reached the silent directory: the per-connector limit did not hold")
	default:
	}
}
