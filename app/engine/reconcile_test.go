package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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

// reconcileEnv is a service and an engine over a real database and a real
// slapd, with the operator and approver a change request needs.
type reconcileEnv struct {
	t        *testing.T
	dir      *ldaptest.Server
	k        *testkit.Env
	op, appr app.Actor
	conn     *app.Connector
}

func newReconcileEnv(t *testing.T) *reconcileEnv {
	dir := ldaptest.Start(t)
	var eng *engine.Engine
	k := testkit.NewService(t, testkit.Options{
		Drivers:   func(reg *app.Registry, _ *store.DB, _ *testkit.Clock) { ldap.Register(reg) },
		Configure: func(c *app.Config) { c.Queued = func(id int64) { eng.Notify(id) } },
	})
	eng = engine.New(engine.Config{Store: k.DB, Registry: k.Registry, Sealer: k.Vault, Poll: 20 * time.Millisecond, LeaseTTL: time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { eng.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	op, appr := operatorAndApprover(t, k.Service)
	conn, err := k.Service.CreateConnector(ctx, app.SystemActor("test"), app.ConnectorInput{Name: "dir", Type: "ldap",
		Config: dir.ConfigJSON(), Credentials: dir.CredentialsJSON()})
	if err != nil {
		t.Fatal(err)
	}
	return &reconcileEnv{t: t, dir: dir, k: k, op: op, appr: appr, conn: conn}
}

func (e *reconcileEnv) approved(ops ...app.OpInput) int64 {
	return approvedChange(context.Background(), e.t, e.k.Service, e.op, e.appr, app.ChangeInput{Title: "reconcile", ConnectorID: e.conn.ID, Operations: ops})
}

// crashAfterWrite leaves request id as a server that died between the
// directory's write of operation seq and the recording of its result
// leaves it: the write applied on the directory, the operation running,
// the request executing under a lease that has run out. The engine's
// reaper then hands it back and the engine resumes it, as after a real
// crash.
func (e *reconcileEnv) crashAfterWrite(id int64, seq int) {
	t, ctx := e.t, context.Background()
	t.Helper()
	db := e.k.DB
	c, err := db.ChangeRequestByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	typed, err := e.k.Registry.DecodeOperation("ldap", c.Operations[seq].Type, c.Operations[seq].Params)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := app.OpenConnector(ctx, e.k.Registry, e.k.Vault, e.conn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := typed.Execute(ctx, conn); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	err = db.WithTx(ctx, func(tx app.Tx) error {
		if err := tx.LockChangeRequest(ctx, id); err != nil {
			return err
		}
		cur, err := tx.ChangeRequestByID(ctx, id)
		if err != nil {
			return err
		}
		o := &cur.Operations[seq]
		o.Status, o.StartedAt = app.OpRunning, now
		if err := tx.UpdateOperation(ctx, o); err != nil {
			return err
		}
		cur.State, cur.StartedAt = app.StateExecuting, now
		cur.LeaseOwner, cur.LeaseExpiresAt = "crashed-server", now.Add(-time.Second)
		return tx.UpdateChangeRequest(ctx, cur)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitState waits until request id leaves executing, and wants it in want.
func (e *reconcileEnv) waitState(id int64, want app.ChangeState) *app.ChangeRequest {
	e.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		c, err := e.k.Service.GetChange(context.Background(), e.op, id)
		if err != nil {
			e.t.Fatal(err)
		}
		if c.State == want {
			return c
		}
		if c.State != app.StateExecuting && c.State != app.StateApproved || time.Now().After(deadline) {
			for _, o := range c.Operations {
				e.t.Logf("op %d %s: %s %s", o.Seq, o.Type, o.Status, o.Error)
			}
			e.t.Fatalf("change %d is %s, want %s", id, c.State, want)
		}
	}
}

func (e *reconcileEnv) auditCount(id int64, event string) int {
	e.t.Helper()
	evs, err := e.k.DB.ListAudit(context.Background(), app.AuditFilter{ResourceType: "change_request", ResourceID: fmt.Sprint(id), Event: event})
	if err != nil {
		e.t.Fatal(err)
	}
	return len(evs)
}

func (e *reconcileEnv) verifyAudit() {
	e.t.Helper()
	verifyAudit(e.t, e.k.Service)
}

// entry reads attributes of a DN as the directory's root sees them.
func (e *reconcileEnv) entry(dn string, attrs ...string) *goldap.Entry {
	e.t.Helper()
	res, err := e.dir.Admin(e.t).Search(goldap.NewSearchRequest(dn, goldap.ScopeBaseObject, goldap.NeverDerefAliases, 0, 0, false,
		"(objectClass=*)", attrs, nil))
	if err != nil || len(res.Entries) != 1 {
		e.t.Fatalf("read %s: %v", dn, err)
	}
	return res.Entries[0]
}

func opIn(typ, params string) app.OpInput { return app.OpInput{Type: typ, Params: []byte(params)} }

// apply runs an operation on the directory outside any request.
func (e *reconcileEnv) apply(typ, params string) {
	e.t.Helper()
	ctx := context.Background()
	typed, err := e.k.Registry.DecodeOperation("ldap", typ, []byte(params))
	if err != nil {
		e.t.Fatal(err)
	}
	conn, err := app.OpenConnector(ctx, e.k.Registry, e.k.Vault, e.conn)
	if err != nil {
		e.t.Fatal(err)
	}
	defer conn.Close()
	if _, err := typed.Execute(ctx, conn); err != nil {
		e.t.Fatal(err)
	}
}

func createUser(uid string, groups ...string) string {
	g, _ := json.Marshal(append([]string{}, groups...))
	return fmt.Sprintf(`{"uid":%q,"cn":"User %s","sn":"Test","mail":"%s@example.org","groups":%s}`, uid, uid, uid, g)
}

func uidParams(uid string) string { return fmt.Sprintf(`{"uid":%q}`, uid) }

// TestResumeReconcilesAnAppliedOperation: the directory applied the first
// operation and the server died before recording it. Without anyone
// asking, the engine takes the request back when the lease runs out
// (change.requeued, with the cause), finds the effect present and records
// it succeeded ("reconciled": true, audited as change.operation_reconciled)
// instead of running it again (for a create: "uid already exists", the
// request failed, the rest skipped); the next operation (locking another
// user) runs and the request succeeds.
func TestResumeReconcilesAnAppliedOperation(t *testing.T) {
	e := newReconcileEnv(t)
	cases := []struct {
		typ    string
		setup  []string // ldap.user.create parameters of users made first
		locked bool     // x is locked first
		params string   // the operation's parameters (x is its user)
	}{
		{"ldap.user.create", nil, false, createUser("x", "devs")},
		{"ldap.user.disable", []string{createUser("x")}, false, uidParams("x")},
		{"ldap.user.enable", []string{createUser("x")}, true, uidParams("x")},
		{"ldap.group.add_member", []string{createUser("x")}, false, `{"group":"admins","uid":"x"}`},
		{"ldap.group.remove_member", []string{createUser("x", "devs")}, false, `{"group":"devs","uid":"x"}`},
		{"ldap.user.delete", []string{createUser("x", "devs")}, false, uidParams("x")},
	}
	for i, tc := range cases {
		t.Run(tc.typ, func(t *testing.T) {
			e.t = t
			x, y := fmt.Sprint("x", i), fmt.Sprint("y", i)
			rename := func(s string) string { return strings.ReplaceAll(s, `"x`, `"`+x) }
			for _, p := range tc.setup {
				e.apply("ldap.user.create", rename(p))
			}
			if tc.locked {
				e.apply("ldap.user.disable", uidParams(x))
			}
			e.apply("ldap.user.create", createUser(y))
			id := e.approved(opIn(tc.typ, rename(tc.params)), opIn("ldap.user.disable", uidParams(y)))
			e.crashAfterWrite(id, 0)
			c := e.waitState(id, app.StateSucceeded)
			if n := e.auditCount(id, "change.requeued"); n != 1 {
				t.Errorf("%d change.requeued records, want 1", n)
			}
			if !strings.Contains(c.InterruptCause, "lost its lease") || c.Requeues != 1 {
				t.Errorf("interrupt cause %q after %d requeues, want the lost lease once", c.InterruptCause, c.Requeues)
			}
			var res struct {
				Reconciled bool           `json:"reconciled"`
				Affects    []app.AssetRef `json:"affects"`
			}
			if err := json.Unmarshal(c.Operations[0].Result, &res); err != nil || !res.Reconciled {
				t.Errorf("operation 0 result %s, want reconciled", c.Operations[0].Result)
			}
			// The next sync reads them: a reconciled change is not drift.
			if len(res.Affects) == 0 {
				t.Errorf("operation 0 result %s names no affected asset", c.Operations[0].Result)
			}
			if c.Operations[1].Status != app.OpSucceeded {
				t.Errorf("operation 1 %s %s", c.Operations[1].Status, c.Operations[1].Error)
			}
			if n := e.auditCount(id, "change.operation_reconciled"); n != 1 {
				t.Errorf("%d change.operation_reconciled records, want 1", n)
			}
			if n := e.auditCount(id, "change.operation_failed"); n != 0 {
				t.Errorf("%d change.operation_failed records, want 0", n)
			}
			if got := e.entry("uid="+y+","+ldaptest.UserBase, "pwdAccountLockedTime").GetAttributeValue("pwdAccountLockedTime"); got != ldap.PermanentLock {
				t.Errorf("%s pwdAccountLockedTime %q: the operation after the reconciled one did not run", y, got)
			}
			e.verifyAudit()
		})
	}
}

// TestResumeStopsWhenTheOutcomeCannotBeTold: a password reset whose result
// was not recorded may have set a password nobody saw. The engine does not
// run it again by itself: after the crash it reconciles, cannot tell, and
// the request stops as interrupted with the reason; a plain resume checks
// again, and only the explicit "run it again" (rerun_unknown) runs it.
func TestResumeStopsWhenTheOutcomeCannotBeTold(t *testing.T) {
	e := newReconcileEnv(t)
	ctx := context.Background()
	id := e.approved(opIn("ldap.user.reset_password", `{"uid":"bob"}`), opIn("ldap.user.disable", `{"uid":"bob"}`))
	e.crashAfterWrite(id, 0)
	c := e.waitState(id, app.StateInterrupted)
	if !strings.Contains(c.InterruptCause, "unknown") || !strings.Contains(c.InterruptCause, "ldap.user.reset_password") {
		t.Errorf("interrupt cause %q, want the unknown outcome named", c.InterruptCause)
	}
	if _, err := e.k.Service.ResumeChange(ctx, e.op, id); err != nil {
		t.Fatal(err)
	}
	// The engine reconciles again, still cannot tell, and stops again.
	c = e.waitState(id, app.StateInterrupted)
	o := c.Operations[0]
	if !o.Unsettled() || !strings.Contains(o.Error, "never recorded") {
		t.Fatalf("op 0 %s %q, want unsettled with the reason", o.Status, o.Error)
	}
	if c.Operations[1].Status != app.OpPending {
		t.Errorf("op 1 %s, want pending: nothing after the unknown operation runs", c.Operations[1].Status)
	}
	if got := e.entry("uid=bob,"+ldaptest.UserBase, "pwdAccountLockedTime").GetAttributeValue("pwdAccountLockedTime"); got != "" {
		t.Errorf("bob locked (%s) though the request stopped before the disable", got)
	}
	acts := e.k.Service.ChangeActions(e.op, c)
	if !acts.Allowed(app.ActionRerunUnknown) || !acts.Allowed(app.ActionResume) {
		t.Errorf("allowed %v, want resume and rerun_unknown", acts.Names())
	}

	if _, err := e.k.Service.ResumeChangeWith(ctx, e.op, id, app.ResumeInput{RerunUnknown: true}); err != nil {
		t.Fatal(err)
	}
	c = e.waitState(id, app.StateSucceeded)
	if strings.Contains(string(c.Operations[0].Result), "reconciled") {
		t.Errorf("op 0 result %s: it ran again, it was not reconciled", c.Operations[0].Result)
	}
	if got := e.entry("uid=bob,"+ldaptest.UserBase, "pwdAccountLockedTime").GetAttributeValue("pwdAccountLockedTime"); got != ldap.PermanentLock {
		t.Errorf("bob's pwdAccountLockedTime %q, want the permanent lock", got)
	}
	if n := e.auditCount(id, "change.operation_reconciled"); n != 0 {
		t.Errorf("%d change.operation_reconciled records, want 0", n)
	}
	e.verifyAudit()
}

// memoOp answers like an agent asked again for work it finished: the
// effect is there, from an earlier run.
type memoOp struct {
	N int `json:"n"`
}

func (o *memoOp) Validate() error                                { return nil }
func (o *memoOp) Plan(context.Context, app.Conn) (string, error) { return "answers from memory", nil }
func (o *memoOp) Execute(context.Context, app.Conn) (*app.OpResult, error) {
	return &app.OpResult{Summary: "done before", Reconciled: true}, nil
}

// TestTargetReportedReconciliation: an operation whose target reports the
// effect as already applied by an earlier run (OpResult.Reconciled) is
// recorded with "reconciled": true and audited as reconciled.
func TestTargetReportedReconciliation(t *testing.T) {
	d := &keyDriver{keys: make(chan string, 10)}
	k := testkit.NewService(t, testkit.Options{
		Drivers: func(reg *app.Registry, _ *store.DB, _ *testkit.Clock) {
			reg.RegisterDriver(d)
			reg.RegisterOperation(app.OperationSpec{Type: "keytest.memo", ConnectorType: "keytest", New: func() app.Operation { return &memoOp{} }})
		},
		Engine: &engine.Config{Poll: 20 * time.Millisecond},
	})
	ctx := context.Background()
	op, appr := operatorAndApprover(t, k.Service)
	conn, err := k.Service.CreateConnector(ctx, app.SystemActor("test"), app.ConnectorInput{Name: "memo", Type: "keytest", Config: json.RawMessage(`{}`), Credentials: json.RawMessage(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	e := &reconcileEnv{t: t, k: k, op: op, appr: appr, conn: conn}
	id := e.approved(opIn("keytest.memo", `{"n":1}`))
	if _, err := k.Service.ExecuteChange(ctx, op, id, app.ExecuteInput{}); err != nil {
		t.Fatal(err)
	}
	c := e.waitState(id, app.StateSucceeded)
	if !strings.Contains(string(c.Operations[0].Result), `"reconciled":true`) {
		t.Errorf("result %s, want reconciled", c.Operations[0].Result)
	}
	if n, m := e.auditCount(id, "change.operation_reconciled"), e.auditCount(id, "change.operation_succeeded"); n != 1 || m != 0 {
		t.Errorf("%d reconciled and %d succeeded records, want 1 and 0", n, m)
	}
	e.verifyAudit()
}
