package store

import (
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func newAgent(id, serial string) *app.Agent {
	return &app.Agent{ID: id, Hostname: "host-" + id, Labels: map[string]string{"env": "prod"},
		CertSerial: serial, CertNotAfter: t0.Add(365 * 24 * time.Hour), EnrolledAt: t0}
}

func TestAgentsCRUD(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		a := newAgent("0123456789abcdef", "aa01")
		mustTx(t, db, func(tx app.Tx) error { return tx.CreateAgent(ctx, a) })
		got, err := db.AgentByID(ctx, a.ID)
		if err != nil || !reflect.DeepEqual(got, a) {
			t.Fatalf("AgentByID = %+v, %v\nwant %+v", got, err, a)
		}
		_, err = db.AgentByID(ctx, "ffffffffffffffff")
		wantCode(t, err, app.ENOTFOUND)

		// Same id or same serial: conflict with a safe message.
		err = db.WithTx(ctx, func(tx app.Tx) error { return tx.CreateAgent(ctx, newAgent(a.ID, "bb02")) })
		wantCode(t, err, app.ECONFLICT)
		err = db.WithTx(ctx, func(tx app.Tx) error { return tx.CreateAgent(ctx, newAgent("1111111111111111", "aa01")) })
		wantCode(t, err, app.ECONFLICT)
		if msg := app.ErrMessage(err); msg != "a certificate with this serial is already recorded" {
			t.Errorf("serial conflict message %q", msg)
		}

		// Heartbeat stores facts, users, version and last seen.
		facts, users := []byte(`{"hostname":"h"}`), []byte(`[{"name":"root"}]`)
		mustTx(t, db, func(tx app.Tx) error {
			return tx.RecordAgentHeartbeat(ctx, a.ID, t0.Add(time.Minute), facts, users, "1.2.3")
		})
		got, _ = db.AgentByID(ctx, a.ID)
		if !got.LastSeen.Equal(t0.Add(time.Minute)) || string(got.Facts) != string(facts) ||
			string(got.Users) != string(users) || got.Version != "1.2.3" {
			t.Errorf("after heartbeat %+v", got)
		}
		// The server holding its poll.
		mustTx(t, db, func(tx app.Tx) error { return tx.SetAgentServer(ctx, a.ID, "server-b") })
		if got, _ = db.AgentByID(ctx, a.ID); got.Server != "server-b" {
			t.Errorf("server = %q", got.Server)
		}
		// Lists leave out the users inventory.
		b := newAgent("2222222222222222", "cc03")
		b.Hostname = "a-first"
		mustTx(t, db, func(tx app.Tx) error { return tx.CreateAgent(ctx, b) })
		list, err := db.ListAgents(ctx)
		if err != nil || len(list) != 2 || list[0].ID != b.ID || list[1].Users != nil || string(list[1].Facts) != string(facts) ||
			list[1].Server != "server-b" {
			t.Fatalf("ListAgents = %+v, %v", list, err)
		}

		// Renewal: current or previous serial may renew; others may not.
		renew := func(presented, next string) bool {
			var ok bool
			mustTx(t, db, func(tx app.Tx) error {
				var err error
				ok, err = tx.RenewAgentCert(ctx, a.ID, presented, next, t0.Add(48*time.Hour))
				return err
			})
			return ok
		}
		if renew("nope", "dd04") || renew("", "dd04") {
			t.Fatal("renewed with a serial that is not the agent's")
		}
		if !renew("aa01", "dd04") {
			t.Fatal("renew with current serial failed")
		}
		got, _ = db.AgentByID(ctx, a.ID)
		if got.CertSerial != "dd04" || got.PrevCertSerial != "aa01" || !got.CertNotAfter.Equal(t0.Add(48*time.Hour)) {
			t.Fatalf("after renew %+v", got)
		}
		// The agent lost the new certificate and renews again with the old one.
		if !renew("aa01", "ee05") {
			t.Fatal("renew with previous serial failed")
		}
		mustTx(t, db, func(tx app.Tx) error { return tx.RetirePrevAgentCert(ctx, a.ID, "dd04") }) // stale: no-op
		if got, _ = db.AgentByID(ctx, a.ID); got.PrevCertSerial != "aa01" {
			t.Fatalf("stale retire changed prev: %+v", got)
		}
		mustTx(t, db, func(tx app.Tx) error { return tx.RetirePrevAgentCert(ctx, a.ID, "ee05") })
		if got, _ = db.AgentByID(ctx, a.ID); got.CertSerial != "ee05" || got.PrevCertSerial != "" {
			t.Fatalf("after retire %+v", got)
		}

		// Revocation: once; then nothing works for the agent.
		revoke := func(id string) (bool, error) {
			var ok bool
			err := db.WithTx(ctx, func(tx app.Tx) error {
				var err error
				ok, err = tx.RevokeAgent(ctx, id, t0.Add(time.Hour))
				return err
			})
			return ok, err
		}
		if ok, err := revoke(a.ID); !ok || err != nil {
			t.Fatalf("revoke: %v %v", ok, err)
		}
		if ok, err := revoke(a.ID); ok || err != nil {
			t.Fatalf("second revoke: %v %v", ok, err)
		}
		_, err = revoke("3333333333333333")
		wantCode(t, err, app.ENOTFOUND)
		got, _ = db.AgentByID(ctx, a.ID)
		if !got.Revoked || !got.RevokedAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("after revoke %+v", got)
		}
		if renew("ee05", "ff06") {
			t.Error("a revoked agent renewed")
		}
		err = db.WithTx(ctx, func(tx app.Tx) error {
			return tx.RecordAgentHeartbeat(ctx, a.ID, t0.Add(2*time.Hour), facts, users, "x")
		})
		wantCode(t, err, app.ENOTFOUND)

		revs, err := db.AgentRevocationsSince(ctx, t0)
		if err != nil || len(revs) != 1 || revs[0].AgentID != a.ID || !revs[0].At.Equal(t0.Add(time.Hour)) {
			t.Fatalf("revocations since t0 = %+v, %v", revs, err)
		}
		if revs, _ := db.AgentRevocationsSince(ctx, t0.Add(2*time.Hour)); len(revs) != 0 {
			t.Errorf("revocations later = %+v", revs)
		}
		if revs, _ := db.AgentRevocationsSince(ctx, time.Time{}); len(revs) != 1 {
			t.Errorf("revocations since zero = %+v (agents in good standing must not count)", revs)
		}
	})
}

func TestEnrollmentTokensAreSingleUse(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		et := &app.EnrollmentToken{TokenHash: "h1", Labels: map[string]string{"role": "web"}, CreatedBy: "1",
			CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
		mustTx(t, db, func(tx app.Tx) error { return tx.CreateEnrollmentToken(ctx, et) })
		if et.ID == 0 {
			t.Fatal("no id")
		}
		got, err := db.EnrollmentTokenByHash(ctx, "h1")
		if err != nil || !reflect.DeepEqual(got, et) {
			t.Fatalf("by hash = %+v, %v\nwant %+v", got, err, et)
		}
		err = db.WithTx(ctx, func(tx app.Tx) error {
			return tx.CreateEnrollmentToken(ctx, &app.EnrollmentToken{TokenHash: "h1", CreatedAt: t0, ExpiresAt: t0})
		})
		wantCode(t, err, app.ECONFLICT)

		consume := func(hash, agent string, now time.Time) (*app.EnrollmentToken, error) {
			var out *app.EnrollmentToken
			err := db.WithTx(ctx, func(tx app.Tx) error {
				var err error
				out, err = tx.ConsumeEnrollmentToken(ctx, hash, agent, now)
				return err
			})
			return out, err
		}
		// Expired (at exactly expires_at) and unknown tokens match nothing.
		_, err = consume("h1", "a", t0.Add(time.Hour))
		wantCode(t, err, app.ENOTFOUND)
		_, err = consume("nope", "a", t0)
		wantCode(t, err, app.ENOTFOUND)

		// Many racing consumers: exactly one wins.
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := range 8 {
			wg.Go(func() {
				used, err := consume("h1", string(rune('a'+i)), t0.Add(time.Minute))
				if err == nil {
					mu.Lock()
					wins++
					mu.Unlock()
					if used.UsedBy == "" || !used.UsedAt.Equal(t0.Add(time.Minute)) || used.Labels["role"] != "web" {
						t.Errorf("consumed = %+v", used)
					}
				} else if app.ErrCode(err) != app.ENOTFOUND {
					t.Errorf("consume: %v", err)
				}
			})
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d consumers won, want 1", wins)
		}
		got, _ = db.EnrollmentTokenByHash(ctx, "h1")
		if got.UsedAt.IsZero() || got.UsedBy == "" {
			t.Errorf("after use %+v", got)
		}
		b, _ := json.Marshal(got.Labels)
		if string(b) != `{"role":"web"}` {
			t.Errorf("labels %s", b)
		}
	})
}
