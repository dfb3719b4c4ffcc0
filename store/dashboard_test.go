package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func TestDashboardQueries(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("aws"))
		other := mustCreateConnector(t, db, newConnector("ldap"))
		a := mustCreateAsset(t, db, newAsset(conn.ID, "aws.iam.access_key", "AKIA1", "key 1"))
		b := mustCreateAsset(t, db, newAsset(other.ID, "ldap.user", "uid=b", "b"))

		counts, err := db.CountOpenFindings(ctx)
		if err != nil || len(counts) != 0 {
			t.Fatalf("no findings: %v, %v", counts, err)
		}
		upsert := func(assetID int64, rule string, sev app.Severity) *app.Finding {
			t.Helper()
			f := &app.Finding{AssetID: assetID, Rule: rule, Severity: sev, Message: rule, LastSeen: t0}
			mustTx(t, db, func(tx app.Tx) error { return tx.UpsertFinding(ctx, f) })
			return f
		}
		lowA := upsert(a.ID, "r1", app.SeverityLow)
		highA := upsert(a.ID, "r2", app.SeverityHigh)
		medB := upsert(b.ID, "r3", app.SeverityMedium)
		highB := upsert(b.ID, "r4", app.SeverityHigh)
		resolved := upsert(b.ID, "r5", app.SeverityHigh)
		// Resolve r5: the connector keeps every other open finding.
		mustTx(t, db, func(tx app.Tx) error {
			_, err := tx.ResolveFindings(ctx, other.ID, []int64{medB.ID, highB.ID}, t0)
			return err
		})

		counts, err = db.CountOpenFindings(ctx)
		want := map[app.Severity]int{app.SeverityHigh: 2, app.SeverityMedium: 1, app.SeverityLow: 1}
		if err != nil || !reflect.DeepEqual(counts, want) {
			t.Fatalf("CountOpenFindings = %v, %v; want %v", counts, err, want)
		}

		top, err := db.MostSevereOpenFindings(ctx, 3)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range top {
			got = append(got, f.Rule+"@"+f.AssetName)
			if f.ID == resolved.ID {
				t.Errorf("resolved finding listed")
			}
		}
		// Most severe first, then newest.
		if wantTop := []string{"r4@b", "r2@key 1", "r3@b"}; !reflect.DeepEqual(got, wantTop) {
			t.Fatalf("MostSevereOpenFindings = %v, want %v", got, wantTop)
		}
		if top[1].ID != highA.ID || top[1].AssetID != a.ID || top[1].ConnectorID != conn.ID || top[1].Message != "r2" {
			t.Errorf("finding fields: %+v", top[1])
		}
		if all, err := db.MostSevereOpenFindings(ctx, 10); err != nil || len(all) != 4 || all[3].ID != lowA.ID {
			t.Errorf("all open findings: %+v, %v", all, err)
		}

		// Agents: never seen (offline), seen recently (online), seen long
		// ago (offline), revoked.
		now := t0.Add(time.Hour)
		for _, ag := range []struct {
			id, serial string
			seen       time.Time
			revoke     bool
		}{
			{"0000000000000001", "s1", time.Time{}, false},
			{"0000000000000002", "s2", now.Add(-time.Second), false},
			{"0000000000000003", "s3", now.Add(-time.Minute), false},
			{"0000000000000004", "s4", now.Add(-time.Second), true},
		} {
			mustTx(t, db, func(tx app.Tx) error {
				if err := tx.CreateAgent(ctx, newAgent(ag.id, ag.serial)); err != nil {
					return err
				}
				if !ag.seen.IsZero() {
					if err := tx.RecordAgentHeartbeat(ctx, ag.id, ag.seen, []byte(`{}`), []byte(`[]`), "1"); err != nil {
						return err
					}
				}
				if ag.revoke {
					_, err := tx.RevokeAgent(ctx, ag.id, now)
					return err
				}
				return nil
			})
		}
		byStatus, err := db.CountAgentsByStatus(ctx, now.Add(-30*time.Second))
		wantAgents := map[string]int{app.AgentOnline: 1, app.AgentOffline: 2, app.AgentRevoked: 1}
		if err != nil || !reflect.DeepEqual(byStatus, wantAgents) {
			t.Fatalf("CountAgentsByStatus = %v, %v; want %v", byStatus, err, wantAgents)
		}
	})
}

// TestCountSetupProgress counts people (not service accounts), connectors
// and change requests, on both drivers.
func TestCountSetupProgress(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		p, err := db.CountSetupProgress(ctx)
		if err != nil || p != (app.SetupProgress{}) {
			t.Fatalf("empty store: %+v, %v", p, err)
		}
		admin := mustCreateUser(t, db, newUser("admin@example.com", app.RoleAdmin))
		svc := newUser("ci-bot", app.RoleOperator)
		svc.Kind, svc.PasswordHash = app.KindService, nil
		mustCreateUser(t, db, svc)
		conn := mustCreateConnector(t, db, newConnector("corp"))
		mustCreateChange(t, db, newChange(conn.ID, admin, "first", 1))
		mustCreateChange(t, db, newChange(conn.ID, admin, "second", 1))
		p, err = db.CountSetupProgress(ctx)
		if want := (app.SetupProgress{Users: 1, Connectors: 1, ChangeRequests: 2}); err != nil || p != want {
			t.Fatalf("CountSetupProgress = %+v, %v; want %+v", p, err, want)
		}
	})
}
