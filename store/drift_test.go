package store

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

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
