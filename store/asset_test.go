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
