package store

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func TestFindings(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("aws"))
		other := mustCreateConnector(t, db, newConnector("ldap"))
		a := mustCreateAsset(t, db, newAsset(conn.ID, "aws.iam.access_key", "AKIA1", "key 1"))
		b := mustCreateAsset(t, db, newAsset(conn.ID, "aws.iam.access_key", "AKIA2", "key 2"))
		c := mustCreateAsset(t, db, newAsset(other.ID, "ldap.user", "uid=c", "c"))

		upsert := func(f *app.Finding) *app.Finding {
			t.Helper()
			mustTx(t, db, func(tx app.Tx) error { return tx.UpsertFinding(ctx, f) })
			return f
		}
		f1 := upsert(&app.Finding{AssetID: a.ID, ConnectorID: 12345, Rule: "aws.access_key.too_old", Severity: app.SeverityMedium,
			Message: "91 days old", RemedyType: "aws.iam.access_key.rotate", RemedyParams: json.RawMessage(`{"key":"AKIA1"}`), LastSeen: t0})
		if f1.ID == 0 || f1.ConnectorID != conn.ID || !f1.FirstSeen.Equal(t0) || !f1.LastSeen.Equal(t0) || !f1.ResolvedAt.IsZero() {
			t.Fatalf("inserted %+v", f1)
		}
		// The same (asset, rule) again updates the open finding.
		f1b := upsert(&app.Finding{AssetID: a.ID, Rule: "aws.access_key.too_old", Severity: app.SeverityHigh,
			Message: "200 days old", LastSeen: t0.Add(time.Hour)})
		if f1b.ID != f1.ID || !f1b.FirstSeen.Equal(t0) || f1b.ConnectorID != conn.ID {
			t.Fatalf("updated %+v, want id %d first seen %v", f1b, f1.ID, t0)
		}
		got, err := db.ListFindings(ctx, app.FindingFilter{AssetID: a.ID})
		want := *f1b
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Fatalf("ListFindings = %+v, %v\nwant %+v", got, err, want)
		}
		f2 := upsert(&app.Finding{AssetID: b.ID, Rule: "aws.access_key.too_old", Severity: app.SeverityLow, Message: "m", LastSeen: t0})
		f3 := upsert(&app.Finding{AssetID: b.ID, Rule: "aws.access_key.unused", Severity: app.SeverityHigh, Message: "m", LastSeen: t0})
		f4 := upsert(&app.Finding{AssetID: a.ID, Rule: "aws.access_key.unused", Severity: app.SeverityMedium, Message: "m", LastSeen: t0})
		f5 := upsert(&app.Finding{AssetID: c.ID, Rule: "ldap.user.stale", Severity: app.SeverityLow, Message: "m", LastSeen: t0})

		ids := func(fs []app.Finding) []int64 {
			out := make([]int64, len(fs))
			for i, f := range fs {
				out[i] = f.ID
			}
			return out
		}
		// Most severe first, newest first within a severity.
		if got, err := db.ListFindings(ctx, app.FindingFilter{}); err != nil ||
			!slices.Equal(ids(got), []int64{f3.ID, f1.ID, f4.ID, f5.ID, f2.ID}) {
			t.Errorf("ListFindings all = %v, %v", ids(got), err)
		}
		if got, err := db.ListFindings(ctx, app.FindingFilter{ConnectorID: conn.ID, Limit: 2}); err != nil ||
			!slices.Equal(ids(got), []int64{f3.ID, f1.ID}) {
			t.Errorf("ListFindings connector limit 2 = %v, %v", ids(got), err)
		}

		// Bad input.
		err = db.WithTx(ctx, func(tx app.Tx) error {
			return tx.UpsertFinding(ctx, &app.Finding{AssetID: 9999, Rule: "r", Severity: app.SeverityLow})
		})
		wantCode(t, err, app.ENOTFOUND)
		err = db.WithTx(ctx, func(tx app.Tx) error {
			return tx.UpsertFinding(ctx, &app.Finding{AssetID: a.ID, Rule: "r", Severity: "critical"})
		})
		wantCode(t, err, app.EINVALID)

		// Resolve everything of conn but f3: f1, f2 and f4 close; other's f5 stays.
		at := t0.Add(2 * time.Hour)
		var n int64
		mustTx(t, db, func(tx app.Tx) (err error) {
			n, err = tx.ResolveFindings(ctx, conn.ID, []int64{f3.ID, f5.ID}, at)
			return err
		})
		if n != 3 {
			t.Errorf("resolved %d, want 3", n)
		}
		if got, err := db.ListFindings(ctx, app.FindingFilter{OpenOnly: true}); err != nil || !slices.Equal(ids(got), []int64{f3.ID, f5.ID}) {
			t.Errorf("open after resolve = %v, %v", ids(got), err)
		}
		if got, err := db.ListFindings(ctx, app.FindingFilter{AssetID: a.ID}); err != nil || len(got) != 2 || !got[0].ResolvedAt.Equal(at) {
			t.Errorf("resolved findings of a = %+v, %v", got, err)
		}
		// A resolved finding firing again opens a new one.
		again := upsert(&app.Finding{AssetID: a.ID, Rule: "aws.access_key.too_old", Severity: app.SeverityHigh, Message: "back", LastSeen: at})
		if again.ID == f1.ID || !again.FirstSeen.Equal(at) {
			t.Errorf("reopened %+v", again)
		}
		// Resolving again with the same keep list resolves nothing more but the new one.
		mustTx(t, db, func(tx app.Tx) (err error) {
			n, err = tx.ResolveFindings(ctx, conn.ID, []int64{f3.ID}, at)
			return err
		})
		if n != 1 {
			t.Errorf("second resolve = %d, want 1", n)
		}

		// A keep list of thousands (more than a statement may bind).
		var assets, keep []int64
		mustTx(t, db, func(tx app.Tx) error {
			for i := range 2500 {
				x := newAsset(other.ID, "ldap.user", fmt.Sprintf("uid=k%d", i), "k")
				if err := tx.CreateAsset(ctx, x); err != nil {
					return err
				}
				f := &app.Finding{AssetID: x.ID, Rule: "ldap.user.stale", Severity: app.SeverityLow, Message: "m", LastSeen: t0}
				if err := tx.UpsertFinding(ctx, f); err != nil {
					return err
				}
				assets = append(assets, x.ID)
				if i%3 != 0 {
					keep = append(keep, f.ID)
				}
			}
			return nil
		})
		keep = append(keep, f5.ID)
		mustTx(t, db, func(tx app.Tx) (err error) {
			n, err = tx.ResolveFindings(ctx, other.ID, keep, at)
			return err
		})
		if n != 834 {
			t.Errorf("resolved %d of 2500, want 834", n)
		}
		open, err := db.ListFindings(ctx, app.FindingFilter{ConnectorID: other.ID, OpenOnly: true, Limit: 10_000})
		if err != nil || len(open) != len(keep) {
			t.Errorf("open after big resolve = %d, %v; want %d", len(open), err, len(keep))
		}
		// Resolving with nothing to keep closes all the rest.
		mustTx(t, db, func(tx app.Tx) (err error) {
			n, err = tx.ResolveFindings(ctx, other.ID, nil, at)
			return err
		})
		if n != int64(len(keep)) {
			t.Errorf("resolve all = %d, want %d", n, len(keep))
		}
	})
}
