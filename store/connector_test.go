package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func TestConnectors(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		ldap := newConnector("corp-ldap")
		ldap.SealedCredentials = []byte("\x00sealed\xffbytes")
		ldap.CredentialsUpdatedAt = t0.Add(time.Minute)
		mustCreateConnector(t, db, ldap)
		aws := mustCreateConnector(t, db, newConnector("aws-prod"))
		if ldap.ID == 0 || aws.ID == ldap.ID {
			t.Fatalf("ids: %d, %d", ldap.ID, aws.ID)
		}

		got, err := db.ConnectorByID(ctx, ldap.ID)
		if err != nil || !reflect.DeepEqual(got, ldap) {
			t.Fatalf("ConnectorByID = %+v, %v\nwant %+v", got, err, ldap)
		}
		// No credentials: NULL in, nil and the zero time out.
		if got, err := db.ConnectorByID(ctx, aws.ID); err != nil || got.SealedCredentials != nil || !got.CredentialsUpdatedAt.IsZero() {
			t.Errorf("connector without credentials = %+v, %v", got, err)
		}
		if cs, err := db.ListConnectors(ctx); err != nil || len(cs) != 2 || cs[0].Name != "aws-prod" || cs[1].Name != "corp-ldap" {
			t.Errorf("ListConnectors = %+v, %v; want by name", cs, err)
		}
		if cs, err := db.ConnectorsWithCredentials(ctx); err != nil || len(cs) != 1 || cs[0].ID != ldap.ID {
			t.Errorf("ConnectorsWithCredentials = %+v, %v", cs, err)
		}

		// Update every field; clearing the credentials takes the connector
		// out of the rekey list.
		aws.Name, aws.Type, aws.Config, aws.RequiredApprovals = "aws-production", "aws", json.RawMessage(`{"region":"eu-west-1"}`), 3
		aws.SealedCredentials, aws.CredentialsUpdatedAt, aws.UpdatedAt = []byte("s2"), t0.Add(time.Hour), t0.Add(time.Hour)
		ldap.SealedCredentials, ldap.CredentialsUpdatedAt, ldap.UpdatedAt = nil, time.Time{}, t0.Add(2*time.Hour)
		mustTx(t, db, func(tx app.Tx) error {
			if err := tx.UpdateConnector(ctx, aws); err != nil {
				return err
			}
			return tx.UpdateConnector(ctx, ldap)
		})
		for _, want := range []*app.Connector{aws, ldap} {
			if got, err := db.ConnectorByID(ctx, want.ID); err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("after UpdateConnector = %+v, %v\nwant %+v", got, err, want)
			}
		}
		if cs, err := db.ConnectorsWithCredentials(ctx); err != nil || len(cs) != 1 || cs[0].ID != aws.ID {
			t.Errorf("ConnectorsWithCredentials after update = %+v, %v", cs, err)
		}

		user := mustCreateUser(t, db, newUser("op@example.com", app.RoleOperator))
		mustCreateChange(t, db, newChange(ldap.ID, user, "in use", 0))
		spare := mustCreateConnector(t, db, newConnector("spare"))

		errCases := []struct {
			name string
			code app.ErrorCode
			msg  string
			run  func(tx app.Tx) error
		}{
			{"duplicate name", app.ECONFLICT, "a connector with this name already exists", func(tx app.Tx) error {
				return tx.CreateConnector(ctx, newConnector("corp-ldap"))
			}},
			{"rename to taken name", app.ECONFLICT, "a connector with this name already exists", func(tx app.Tx) error {
				c := *aws
				c.Name = "corp-ldap"
				return tx.UpdateConnector(ctx, &c)
			}},
			{"no approvals required", app.EINVALID, "", func(tx app.Tx) error {
				c := newConnector("zero")
				c.RequiredApprovals = 0
				return tx.CreateConnector(ctx, c)
			}},
			{"by id not found", app.ENOTFOUND, "connector not found", func(tx app.Tx) error {
				_, err := tx.ConnectorByID(ctx, 9999)
				return err
			}},
			{"update not found", app.ENOTFOUND, "connector not found", func(tx app.Tx) error {
				c := *aws
				c.ID = 9999
				return tx.UpdateConnector(ctx, &c)
			}},
			{"delete not found", app.ENOTFOUND, "connector not found", func(tx app.Tx) error { return tx.DeleteConnector(ctx, 9999) }},
			{"delete in use", app.ECONFLICT, "connector is used by change requests", func(tx app.Tx) error {
				return tx.DeleteConnector(ctx, ldap.ID)
			}},
		}
		for _, c := range errCases {
			t.Run(c.name, func(t *testing.T) {
				err := db.WithTx(ctx, c.run)
				wantCode(t, err, c.code)
				if c.msg != "" && app.ErrMessage(err) != c.msg {
					t.Errorf("message = %q, want %q", app.ErrMessage(err), c.msg)
				}
			})
		}

		mustTx(t, db, func(tx app.Tx) error { return tx.DeleteConnector(ctx, spare.ID) })
		_, err = db.ConnectorByID(ctx, spare.ID)
		wantCode(t, err, app.ENOTFOUND)
		if _, err := db.ConnectorByID(ctx, ldap.ID); err != nil {
			t.Errorf("connector in use is gone after the refused delete: %v", err)
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
