package store

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func newAsset(connID int64, kind, externalID, name string) *app.Asset {
	return &app.Asset{ConnectorID: connID, Kind: kind, ExternalID: externalID, Name: name,
		Attributes: json.RawMessage(`{"path":"/"}`), FirstSeen: t0, LastSeen: t0}
}

func mustCreateAsset(t *testing.T, db *DB, a *app.Asset) *app.Asset {
	t.Helper()
	mustTx(t, db, func(tx app.Tx) error { return tx.CreateAsset(t.Context(), a) })
	return a
}

// checkSearchIndex has SQLite verify that the trigram index agrees with
// the assets table it indexes.
func checkSearchIndex(t *testing.T, db *DB) {
	t.Helper()
	if db.dialect != sqliteDialect {
		return
	}
	if _, err := db.execRaw(t.Context(), "INSERT INTO assets_search (assets_search) VALUES ('integrity-check')"); err != nil {
		t.Errorf("assets_search integrity: %v", err)
	}
}

func assetIDs(as []app.Asset) []int64 {
	ids := make([]int64, len(as))
	for i, a := range as {
		ids[i] = a.ID
	}
	return ids
}

func TestAssets(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("aws"))
		other := mustCreateConnector(t, db, newConnector("ldap"))

		a := mustCreateAsset(t, db, newAsset(conn.ID, "aws.iam.user", "arn:aws:iam::1:user/alice", "alice"))
		if a.ID == 0 || !a.GoneAt.IsZero() {
			t.Fatalf("created %+v", a)
		}
		if got, err := db.AssetByID(ctx, a.ID); err != nil || !reflect.DeepEqual(got, a) {
			t.Fatalf("AssetByID = %+v, %v\nwant %+v", got, err, a)
		}
		// Zero times: first seen now, last seen = first seen.
		b := &app.Asset{ConnectorID: conn.ID, Kind: "aws.iam.user", ExternalID: "arn:aws:iam::1:user/bob", Name: "bob"}
		before := time.Now().Add(-time.Second)
		mustCreateAsset(t, db, b)
		if b.FirstSeen.Before(before) || !b.LastSeen.Equal(b.FirstSeen) {
			t.Errorf("defaults: %+v", b)
		}
		if got, err := db.AssetByID(ctx, b.ID); err != nil || !reflect.DeepEqual(got, b) || got.Attributes != nil {
			t.Errorf("asset without attributes = %+v, %v", got, err)
		}

		// The same external id is fine under another kind or connector.
		mustCreateAsset(t, db, newAsset(conn.ID, "aws.iam.role", "arn:aws:iam::1:user/alice", "alice"))
		mustCreateAsset(t, db, newAsset(other.ID, "aws.iam.user", "arn:aws:iam::1:user/alice", "alice"))
		err := db.WithTx(ctx, func(tx app.Tx) error {
			return tx.CreateAsset(ctx, newAsset(conn.ID, "aws.iam.user", "arn:aws:iam::1:user/alice", "alice2"))
		})
		wantCode(t, err, app.ECONFLICT)
		if msg := app.ErrMessage(err); msg != "the connector already has an asset of this kind with this external id" {
			t.Errorf("conflict message %q", msg)
		}
		err = db.WithTx(ctx, func(tx app.Tx) error {
			return tx.CreateAsset(ctx, newAsset(9999, "aws.iam.user", "x", "x"))
		})
		wantCode(t, err, app.ENOTFOUND)

		// Update writes name, attributes, last seen and gone at.
		a.Name, a.Attributes, a.LastSeen, a.GoneAt = "Alice", json.RawMessage(`{"path":"/admins/"}`), t0.Add(time.Hour), t0.Add(2*time.Hour)
		mustTx(t, db, func(tx app.Tx) error { return tx.UpdateAsset(ctx, a) })
		if got, err := db.AssetByID(ctx, a.ID); err != nil || !reflect.DeepEqual(got, a) {
			t.Errorf("after UpdateAsset = %+v, %v\nwant %+v", got, err, a)
		}
		err = db.WithTx(ctx, func(tx app.Tx) error {
			c := *a
			c.ID = 9999
			return tx.UpdateAsset(ctx, &c)
		})
		wantCode(t, err, app.ENOTFOUND)
		_, err = db.AssetByID(ctx, 9999)
		wantCode(t, err, app.ENOTFOUND)
		if app.ErrMessage(err) != "asset not found" {
			t.Errorf("message %q", app.ErrMessage(err))
		}

		// A rename is searchable under the new name only.
		b.Name = "Robert"
		mustTx(t, db, func(tx app.Tx) error { return tx.UpdateAsset(ctx, b) })
		for text, want := range map[string][]int64{"robert": {b.ID}, "bob": {b.ID}, "Bob\n": nil, "rob": {b.ID}} {
			if got, err := db.ListAssets(ctx, app.AssetFilter{Text: text}); err != nil || !slices.Equal(assetIDs(got), want) {
				t.Errorf("search %q after rename = %v, %v; want %v", text, assetIDs(got), err, want)
			}
		}
		if got, err := db.ListAssets(ctx, app.AssetFilter{Text: "bob", ConnectorID: conn.ID}); err != nil || len(got) != 1 {
			t.Errorf("search by external id after rename = %v, %v", assetIDs(got), err)
		}
		checkSearchIndex(t, db)

		// Touch many at once, across statement chunks; unknown ids are ignored.
		var many []int64
		mustTx(t, db, func(tx app.Tx) error {
			for i := range 1203 {
				x := newAsset(other.ID, "ldap.user", fmt.Sprintf("uid=u%d,dc=x", i), fmt.Sprintf("u%d", i))
				if err := tx.CreateAsset(ctx, x); err != nil {
					return err
				}
				many = append(many, x.ID)
			}
			return nil
		})
		seen := t0.Add(24 * time.Hour)
		mustTx(t, db, func(tx app.Tx) error { return tx.TouchAssets(ctx, append(many[1:], 999999), seen) })
		mustTx(t, db, func(tx app.Tx) error { return tx.TouchAssets(ctx, nil, seen) })
		all, err := db.ConnectorAssets(ctx, other.ID)
		if err != nil || len(all) != 1204 {
			t.Fatalf("ConnectorAssets = %d, %v", len(all), err)
		}
		for i, x := range all {
			if i > 0 && x.ID <= all[i-1].ID {
				t.Fatalf("ConnectorAssets not by id")
			}
			wantSeen := seen
			if x.ID == many[0] || x.Kind != "ldap.user" {
				wantSeen = t0
			}
			if !x.LastSeen.Equal(wantSeen) || !x.FirstSeen.Equal(t0) {
				t.Fatalf("asset %d last seen %v, want %v", x.ID, x.LastSeen, wantSeen)
			}
		}
		// Gone assets are part of ConnectorAssets.
		if all, err := db.ConnectorAssets(ctx, conn.ID); err != nil || len(all) != 3 || all[0].ID != a.ID || all[0].GoneAt.IsZero() {
			t.Errorf("ConnectorAssets(conn) = %+v, %v", all, err)
		}
	})
}

func TestListAssets(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		aws := mustCreateConnector(t, db, newConnector("aws"))
		ldap := mustCreateConnector(t, db, newConnector("ldap"))
		mk := func(conn *app.Connector, kind, ext, name string, gone bool) int64 {
			a := newAsset(conn.ID, kind, ext, name)
			if gone {
				a.GoneAt = t0.Add(time.Hour)
			}
			return mustCreateAsset(t, db, a).ID
		}
		alice := mk(aws, "aws.iam.user", "arn:aws:iam::1:user/alice", "Alice", false)
		key := mk(aws, "aws.iam.access_key", "AKIAEXAMPLE100", "alice key", false)
		oldKey := mk(aws, "aws.iam.access_key", "AKIAEXAMPLE050", "old key", true)
		bob := mk(ldap, "ldap.user", "uid=bob,ou=People,dc=Example,dc=com", "Bob Ünal", false)
		pct := mk(ldap, "ldap.group", "cn=100%_club,dc=example,dc=com", "100%_club", false)

		mustTx(t, db, func(tx app.Tx) error {
			for _, f := range []*app.Finding{
				{AssetID: key, Rule: "aws.access_key.too_old", Severity: app.SeverityHigh, Message: "old"},
				{AssetID: alice, Rule: "aws.user.no_mfa", Severity: app.SeverityMedium, Message: "mfa"},
				{AssetID: bob, Rule: "ldap.user.stale", Severity: app.SeverityLow, Message: "stale"},
			} {
				if err := tx.UpsertFinding(ctx, f); err != nil {
					return err
				}
			}
			// A resolved finding does not count.
			_, err := tx.ResolveFindings(ctx, ldap.ID, nil, t0)
			return err
		})

		for _, c := range []struct {
			name string
			f    app.AssetFilter
			want []int64
		}{
			{"all present", app.AssetFilter{}, []int64{pct, bob, key, alice}},
			{"include gone", app.AssetFilter{IncludeGone: true}, []int64{pct, bob, oldKey, key, alice}},
			{"connector", app.AssetFilter{ConnectorID: aws.ID}, []int64{key, alice}},
			{"connector include gone", app.AssetFilter{ConnectorID: aws.ID, IncludeGone: true}, []int64{oldKey, key, alice}},
			{"kind", app.AssetFilter{Kind: "aws.iam.access_key"}, []int64{key}},
			{"kind include gone", app.AssetFilter{Kind: "aws.iam.access_key", IncludeGone: true}, []int64{oldKey, key}},
			{"connector and kind", app.AssetFilter{ConnectorID: ldap.ID, Kind: "ldap.user"}, []int64{bob}},
			{"text name any case", app.AssetFilter{Text: "ALIce"}, []int64{key, alice}},
			{"text external id", app.AssetFilter{Text: "akiaexample"}, []int64{key}},
			{"text external id gone", app.AssetFilter{Text: "akiaexample", IncludeGone: true}, []int64{oldKey, key}},
			{"text mixed-case external id", app.AssetFilter{Text: "DC=EXAMPLE,DC=COM"}, []int64{pct, bob}},
			{"text unicode", app.AssetFilter{Text: "üNAL"}, []int64{bob}},
			{"text like metacharacters", app.AssetFilter{Text: "0%_c"}, []int64{pct}},
			{"text underscore is literal", app.AssetFilter{Text: "ple_00"}, nil},
			{"text not across name and id", app.AssetFilter{Text: "alice arn"}, nil},
			{"text no match", app.AssetFilter{Text: "carol"}, nil},
			{"finding any", app.AssetFilter{Finding: "any"}, []int64{key, alice}},
			{"finding rule", app.AssetFilter{Finding: "aws.user.no_mfa"}, []int64{alice}},
			{"finding resolved rule", app.AssetFilter{Finding: "ldap.user.stale"}, nil},
			{"finding and text", app.AssetFilter{Finding: "any", Text: "key"}, []int64{key}},
			{"before", app.AssetFilter{BeforeID: bob}, []int64{key, alice}},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, err := db.ListAssets(ctx, c.f)
				if err != nil || !slices.Equal(assetIDs(got), c.want) {
					t.Errorf("ListAssets(%+v) = %v, %v; want %v", c.f, assetIDs(got), err, c.want)
				}
			})
		}

		// Keyset pagination walks every asset exactly once, newest first.
		var ids []int64
		mustTx(t, db, func(tx app.Tx) error {
			for i := range 120 {
				a := newAsset(ldap.ID, "ldap.user", fmt.Sprintf("uid=p%03d", i), fmt.Sprintf("p%03d", i))
				if err := tx.CreateAsset(ctx, a); err != nil {
					return err
				}
				ids = append(ids, a.ID)
			}
			return nil
		})
		slices.Reverse(ids)
		var walked []int64
		f := app.AssetFilter{Kind: "ldap.user", Text: "uid=p", Limit: 50}
		for {
			page, err := db.ListAssets(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			walked = append(walked, assetIDs(page)...)
			if len(page) < f.Limit {
				break
			}
			f.BeforeID = page[len(page)-1].ID
		}
		if !slices.Equal(walked, ids) {
			t.Errorf("keyset walk = %v\nwant %v", walked, ids)
		}
		// Limit: 0 is 50, above 500 is 500.
		mustTx(t, db, func(tx app.Tx) error {
			for i := range 450 {
				if err := tx.CreateAsset(ctx, newAsset(aws.ID, "bulk", fmt.Sprint(i), "bulk")); err != nil {
					return err
				}
			}
			return nil
		})
		for _, c := range []struct{ limit, want int }{{0, 50}, {-1, 50}, {7, 7}, {10_000, 500}} {
			if got, err := db.ListAssets(ctx, app.AssetFilter{Limit: c.limit}); err != nil || len(got) != c.want {
				t.Errorf("Limit %d: %d assets, %v; want %d", c.limit, len(got), err, c.want)
			}
		}
	})
}

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

func TestDrift(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("aws"))
		other := mustCreateConnector(t, db, newConnector("ldap"))
		u := mustCreateUser(t, db, newUser("ack@example.com", app.RoleOperator))
		mk := func(connID int64, change app.DriftChange, at time.Time) *app.Drift {
			d := &app.Drift{ConnectorID: connID, AssetID: 0, Kind: "aws.iam.user", ExternalID: "arn:x", Name: "x",
				Change: change, Before: json.RawMessage(`null`), After: json.RawMessage(`{"path":"/"}`), DetectedAt: at}
			mustTx(t, db, func(tx app.Tx) error { return tx.CreateDrift(ctx, d) })
			return d
		}
		d1 := mk(conn.ID, app.DriftAppeared, t0)
		d2 := mk(conn.ID, app.DriftChanged, t0.Add(time.Minute))
		d3 := mk(other.ID, app.DriftDisappeared, t0.Add(2*time.Minute))
		if got, err := db.DriftByID(ctx, d1.ID); err != nil || !reflect.DeepEqual(got, d1) {
			t.Fatalf("DriftByID = %+v, %v\nwant %+v", got, err, d1)
		}
		_, err := db.DriftByID(ctx, 9999)
		wantCode(t, err, app.ENOTFOUND)
		if app.ErrMessage(err) != "drift record not found" {
			t.Errorf("message %q", app.ErrMessage(err))
		}
		err = db.WithTx(ctx, func(tx app.Tx) error {
			return tx.CreateDrift(ctx, &app.Drift{ConnectorID: conn.ID, Change: "moved", Before: json.RawMessage(`null`), After: json.RawMessage(`null`)})
		})
		wantCode(t, err, app.EINVALID)

		ack := func(id int64, comment string) (ok bool, err error) {
			err = db.WithTx(ctx, func(tx app.Tx) (err error) {
				ok, err = tx.AcknowledgeDrift(ctx, id, u.ID, comment, t0.Add(time.Hour))
				return err
			})
			return ok, err
		}
		if ok, err := ack(d2.ID, "expected"); err != nil || !ok {
			t.Fatalf("first ack = %v, %v", ok, err)
		}
		if ok, err := ack(d2.ID, "again"); err != nil || ok {
			t.Errorf("second ack = %v, %v; want false", ok, err)
		}
		_, err = ack(9999, "")
		wantCode(t, err, app.ENOTFOUND)
		got, err := db.DriftByID(ctx, d2.ID)
		if err != nil || got.AcknowledgedBy != u.ID || !got.AcknowledgedAt.Equal(t0.Add(time.Hour)) || got.AckComment != "expected" {
			t.Errorf("acknowledged = %+v, %v", got, err)
		}

		ids := func(f app.DriftFilter) []int64 {
			ds, err := db.ListDrift(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]int64, len(ds))
			for i, d := range ds {
				out[i] = d.ID
			}
			return out
		}
		for _, c := range []struct {
			f    app.DriftFilter
			want []int64
		}{
			{app.DriftFilter{}, []int64{d3.ID, d2.ID, d1.ID}},
			{app.DriftFilter{OpenOnly: true}, []int64{d3.ID, d1.ID}},
			{app.DriftFilter{ConnectorID: conn.ID}, []int64{d2.ID, d1.ID}},
			{app.DriftFilter{ConnectorID: conn.ID, OpenOnly: true}, []int64{d1.ID}},
			{app.DriftFilter{BeforeID: d3.ID}, []int64{d2.ID, d1.ID}},
			{app.DriftFilter{Limit: 1}, []int64{d3.ID}},
		} {
			if got := ids(c.f); !slices.Equal(got, c.want) {
				t.Errorf("ListDrift(%+v) = %v, want %v", c.f, got, c.want)
			}
		}
	})
}

func TestSyncState(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		a := mustCreateConnector(t, db, newConnector("a"))
		b := mustCreateConnector(t, db, newConnector("b"))
		c := mustCreateConnector(t, db, newConnector("c"))

		_, err := db.SyncStateOf(ctx, a.ID)
		wantCode(t, err, app.ENOTFOUND)
		if due, err := db.DueSyncs(ctx, t0); err != nil || !slices.Equal(due, []int64{a.ID, b.ID, c.ID}) {
			t.Errorf("DueSyncs before any sync = %v, %v", due, err)
		}

		put := func(s *app.SyncState) {
			t.Helper()
			mustTx(t, db, func(tx app.Tx) error { return tx.PutSyncState(ctx, s) })
		}
		sa := &app.SyncState{ConnectorID: a.ID, LastStarted: t0, LastFinished: t0.Add(time.Second), Assets: 42, NextDue: t0.Add(time.Hour)}
		put(sa)
		put(&app.SyncState{ConnectorID: b.ID, LastStarted: t0, NextDue: t0})
		if got, err := db.SyncStateOf(ctx, a.ID); err != nil || !reflect.DeepEqual(got, sa) {
			t.Errorf("SyncStateOf = %+v, %v\nwant %+v", got, err, sa)
		}
		// b is due at its next_due, c was never synced, a is not yet due.
		if due, err := db.DueSyncs(ctx, t0); err != nil || !slices.Equal(due, []int64{b.ID, c.ID}) {
			t.Errorf("DueSyncs(t0) = %v, %v", due, err)
		}
		if due, err := db.DueSyncs(ctx, t0.Add(time.Hour)); err != nil || !slices.Equal(due, []int64{a.ID, b.ID, c.ID}) {
			t.Errorf("DueSyncs(t0+1h) = %v, %v", due, err)
		}
		// Put replaces every field.
		sa2 := &app.SyncState{ConnectorID: a.ID, LastStarted: t0.Add(time.Hour), LastError: "access denied", NextDue: t0.Add(2 * time.Hour)}
		put(sa2)
		if got, err := db.SyncStateOf(ctx, a.ID); err != nil || !reflect.DeepEqual(got, sa2) {
			t.Errorf("SyncStateOf after second put = %+v, %v\nwant %+v", got, err, sa2)
		}
		err = db.WithTx(ctx, func(tx app.Tx) error { return tx.PutSyncState(ctx, &app.SyncState{ConnectorID: 9999}) })
		wantCode(t, err, app.ENOTFOUND)
	})
}

func TestChangesTouchingSince(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("aws"))
		other := mustCreateConnector(t, db, newConnector("ldap"))
		u := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		since := t0.Add(time.Hour)
		mk := func(connID int64, state app.ChangeState, finished, updated time.Time) int64 {
			c := newChange(connID, u, string(state), 2)
			c.State, c.FinishedAt = state, finished
			if !updated.IsZero() {
				c.UpdatedAt = updated
			}
			return mustCreateChange(t, db, c).ID
		}
		executingID := mk(conn.ID, app.StateExecuting, time.Time{}, time.Time{})
		finishedAfter := mk(conn.ID, app.StateSucceeded, since.Add(time.Minute), time.Time{})
		finishedAt := mk(conn.ID, app.StateFailed, since, time.Time{})
		mk(conn.ID, app.StateSucceeded, since.Add(-time.Minute), time.Time{}) // before since
		mk(conn.ID, app.StateApproved, time.Time{}, time.Time{})              // not executed
		mk(conn.ID, app.StateDraft, time.Time{}, since.Add(time.Hour))        // edited, not executed
		interrupted := mk(conn.ID, app.StateInterrupted, time.Time{}, since.Add(time.Minute))
		mk(conn.ID, app.StateInterrupted, time.Time{}, since.Add(-time.Minute)) // interrupted long ago
		mk(other.ID, app.StateExecuting, time.Time{}, time.Time{})              // another connector

		cs, err := db.ChangesTouchingSince(ctx, conn.ID, since)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, c := range cs {
			got = append(got, c.ID)
			if len(c.Operations) != 2 || c.Operations[0].Seq != 0 || c.Approvals == nil {
				t.Errorf("change %d children: %+v / %+v", c.ID, c.Operations, c.Approvals)
			}
		}
		if want := []int64{executingID, finishedAfter, finishedAt, interrupted}; !slices.Equal(got, want) {
			t.Errorf("ChangesTouchingSince = %v, want %v", got, want)
		}
		if cs, err := db.ChangesTouchingSince(ctx, conn.ID, since.Add(24*time.Hour)); err != nil || len(cs) != 1 || cs[0].ID != executingID {
			t.Errorf("ChangesTouchingSince(later) = %+v, %v", cs, err)
		}
		// More requests than one children query loads at once.
		mustTx(t, db, func(tx app.Tx) error {
			for i := range maxChangeLimit + 5 {
				c := newChange(other.ID, u, fmt.Sprint(i), 1)
				c.State, c.FinishedAt = app.StateSucceeded, since
				if err := tx.CreateChangeRequest(ctx, c); err != nil {
					return err
				}
			}
			return nil
		})
		cs, err = db.ChangesTouchingSince(ctx, other.ID, since)
		if err != nil || len(cs) != maxChangeLimit+6 {
			t.Fatalf("many = %d, %v", len(cs), err)
		}
		for _, c := range cs {
			if len(c.Operations) == 0 {
				t.Fatalf("change %d has no operations loaded", c.ID)
			}
		}
	})
}

// TestConnectorDeleteCascades: a connector without change requests can be
// deleted, and takes its inventory, findings, drift and sync state along.
func TestConnectorDeleteCascades(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		conn := mustCreateConnector(t, db, newConnector("aws"))
		keepConn := mustCreateConnector(t, db, newConnector("keep"))
		a := mustCreateAsset(t, db, newAsset(conn.ID, "k", "x", "x"))
		kept := mustCreateAsset(t, db, newAsset(keepConn.ID, "k", "x", "x"))
		mustTx(t, db, func(tx app.Tx) error {
			for _, id := range []int64{a.ID, kept.ID} {
				if err := tx.UpsertFinding(ctx, &app.Finding{AssetID: id, Rule: "r", Severity: app.SeverityLow, Message: "m"}); err != nil {
					return err
				}
			}
			if err := tx.CreateDrift(ctx, &app.Drift{ConnectorID: conn.ID, AssetID: a.ID, Kind: "k", ExternalID: "x", Name: "x",
				Change: app.DriftAppeared, Before: json.RawMessage(`null`), After: json.RawMessage(`{}`)}); err != nil {
				return err
			}
			return tx.PutSyncState(ctx, &app.SyncState{ConnectorID: conn.ID, NextDue: t0})
		})
		// Drift outlives its asset.
		if _, err := db.execRaw(ctx, "DELETE FROM assets WHERE id = ?", a.ID); err != nil {
			t.Fatal(err)
		}
		if ds, err := db.ListDrift(ctx, app.DriftFilter{ConnectorID: conn.ID}); err != nil || len(ds) != 1 {
			t.Errorf("drift after its asset went = %+v, %v", ds, err)
		}
		if fs, err := db.ListFindings(ctx, app.FindingFilter{ConnectorID: conn.ID}); err != nil || len(fs) != 0 {
			t.Errorf("findings of a deleted asset = %+v, %v", fs, err)
		}
		mustCreateAsset(t, db, newAsset(conn.ID, "k", "y", "y"))

		mustTx(t, db, func(tx app.Tx) error { return tx.DeleteConnector(ctx, conn.ID) })
		checkSearchIndex(t, db)
		if got, err := db.ListAssets(ctx, app.AssetFilter{Text: "x", IncludeGone: true}); err != nil || len(got) != 1 || got[0].ID != kept.ID {
			t.Errorf("search after cascade = %+v, %v", got, err)
		}
		for _, table := range []string{"assets", "findings", "drift", "sync_state"} {
			var n int
			if err := db.queryRow(ctx, "SELECT count(*) FROM "+table+" WHERE connector_id = ?", conn.ID).Scan(&n); err != nil || n != 0 {
				t.Errorf("%s rows of the deleted connector: %d, %v", table, n, err)
			}
			if err := db.queryRow(ctx, "SELECT count(*) FROM "+table+" WHERE connector_id = ?", keepConn.ID).Scan(&n); err != nil ||
				(n == 0) != (table == "drift" || table == "sync_state") {
				t.Errorf("%s rows of the other connector: %d, %v", table, n, err)
			}
		}
	})
}

// TestMigrateFrom0002 upgrades a database that has lived on 0002 (users,
// connectors, change requests) and syncs its connectors.
func TestMigrateFrom0002(t *testing.T) {
	run := func(t *testing.T, db *DB) {
		ctx := t.Context()
		ms, err := db.dialect.migrations()
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if did, err := db.migrateNext(ctx, ms[:2]); err != nil || !did {
				t.Fatalf("apply 0001-0002 = %v, %v", did, err)
			}
		}
		u := mustCreateUser(t, db, newUser("old@example.com", app.RoleAdmin))
		conn := mustCreateConnector(t, db, newConnector("ldap"))
		c := newChange(conn.ID, u, "old", 1)
		c.State, c.FinishedAt = app.StateSucceeded, t0
		mustCreateChange(t, db, c)

		n, err := db.Migrate(ctx)
		if err != nil || n != len(ms)-2 {
			t.Fatalf("Migrate = %d, %v; want %d", n, err, len(ms)-2)
		}
		if due, err := db.DueSyncs(ctx, t0); err != nil || !slices.Equal(due, []int64{conn.ID}) {
			t.Errorf("DueSyncs after migration = %v, %v", due, err)
		}
		a := mustCreateAsset(t, db, newAsset(conn.ID, "ldap.user", "uid=a", "a"))
		if got, err := db.ListAssets(ctx, app.AssetFilter{ConnectorID: conn.ID}); err != nil || len(got) != 1 || got[0].ID != a.ID {
			t.Errorf("ListAssets after migration = %+v, %v", got, err)
		}
		if cs, err := db.ChangesTouchingSince(ctx, conn.ID, t0); err != nil || len(cs) != 1 || cs[0].ID != c.ID || len(cs[0].Operations) != 1 {
			t.Errorf("ChangesTouchingSince after migration = %+v, %v", cs, err)
		}
	}

	openBoth(t, false, run)
}

// TestInventoryQueriesUseIndexes: the console's asset and drift lists and a
// sync's bookkeeping walk an index, never the whole table and never a sort
// (except ListFindings' severity order over one asset's or connector's
// findings, and text search, which filters the index walk).
func TestInventoryQueriesUseIndexes(t *testing.T) {
	db := mustOpenSQLite(t)
	ctx := t.Context()
	// Enough rows, with statistics, that the planner prefers the indexes.
	conns := []int64{mustCreateConnector(t, db, newConnector("a")).ID, mustCreateConnector(t, db, newConnector("b")).ID}
	mustTx(t, db, func(tx app.Tx) error {
		for i := range 2000 {
			a := newAsset(conns[i%2], fmt.Sprintf("kind%d", i%5), fmt.Sprint(i), fmt.Sprint(i))
			if i%4 == 0 {
				a.GoneAt = t0
			}
			if err := tx.CreateAsset(ctx, a); err != nil {
				return err
			}
			if i%10 == 0 {
				if err := tx.UpsertFinding(ctx, &app.Finding{AssetID: a.ID, Rule: fmt.Sprintf("rule%d", i%3), Severity: app.SeverityLow, Message: "m"}); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if _, err := db.writer.ExecContext(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}

	plan := func(run func(q queries) error) (string, []string) {
		t.Helper()
		rec := &recordingQuerier{querier: db.reader}
		if err := run(queries{q: rec, dialect: sqliteDialect}); err != nil {
			t.Fatal(err)
		}
		rows, err := db.reader.QueryContext(ctx, "EXPLAIN QUERY PLAN "+rec.query, rec.args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, detail)
		}
		return rec.query, lines
	}
	// mayScan names what a SCAN may read: a partial index (only the rows
	// wanted) or the walk that a filter stops at a page.
	check := func(name string, mayScan string, run func(q queries) error) {
		t.Helper()
		query, lines := plan(run)
		t.Logf("%s: %q", name, lines)
		for _, d := range lines {
			if strings.Contains(d, "TEMP B-TREE") {
				t.Errorf("%s sorts: %s\nplan %q", name, query, lines)
			}
			if strings.HasPrefix(d, "SCAN") && (mayScan == "" || !strings.Contains(d, mayScan)) &&
				// The open findings' partial index holds only open findings.
				!strings.Contains(d, "COVERING INDEX findings_open_rule") {
				t.Errorf("%s scans: %s\nplan %q", name, query, lines)
			}
		}
	}
	assets := func(f app.AssetFilter) func(q queries) error {
		return func(q queries) error { _, err := q.ListAssets(ctx, f); return err }
	}
	// A present-only list walks a partial index: a SCAN of only the rows wanted.
	check("assets present", "INDEX assets_present", assets(app.AssetFilter{BeforeID: 1000}))
	check("assets connector", "", assets(app.AssetFilter{ConnectorID: conns[0], BeforeID: 1000}))
	check("assets connector gone", "", assets(app.AssetFilter{ConnectorID: conns[0], IncludeGone: true}))
	check("assets kind", "", assets(app.AssetFilter{Kind: "kind1"}))
	check("assets kind gone", "", assets(app.AssetFilter{Kind: "kind1", IncludeGone: true, BeforeID: 1000}))
	// Text search filters a walk in id order that stops at a full page.
	check("assets text", "SCAN a", assets(app.AssetFilter{Text: "12"}))
	check("assets connector text", "", assets(app.AssetFilter{ConnectorID: conns[1], Text: "12"}))
	// Longer terms read the trigram index in id order (a virtual table
	// "SCAN" that the MATCH constraint serves) and look the assets up.
	check("assets trigram", "assets_search VIRTUAL TABLE INDEX", assets(app.AssetFilter{Text: "123", BeforeID: 1500}))
	check("assets trigram connector", "assets_search VIRTUAL TABLE INDEX", assets(app.AssetFilter{Text: "123", ConnectorID: conns[1], Finding: "any"}))
	check("connector assets", "", func(q queries) error { _, err := q.ConnectorAssets(ctx, conns[0]); return err })
	check("drift open", "INDEX drift_open", func(q queries) error {
		_, err := q.ListDrift(ctx, app.DriftFilter{OpenOnly: true, BeforeID: 10})
		return err
	})
	check("drift connector open", "", func(q queries) error {
		_, err := q.ListDrift(ctx, app.DriftFilter{ConnectorID: conns[0], OpenOnly: true})
		return err
	})
	check("resolve findings", "", func(q queries) error {
		_, err := q.ids(ctx, "open findings", "SELECT id FROM findings WHERE connector_id = ? AND resolved_at = 0", conns[0])
		return err
	})
	// The finding filter: the open findings of a rule are few; they, not the
	// assets, drive the query.
	_, lines := plan(assets(app.AssetFilter{Finding: "rule1"}))
	t.Logf("assets finding rule: %q", lines)
	_, lines = plan(assets(app.AssetFilter{Finding: "any"}))
	t.Logf("assets finding any: %q", lines)
}
