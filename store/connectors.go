package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nexplane/nexplane/app"
)

const connectorColumns = "id, name, type, config, sealed_credentials, credentials_updated_at, required_approvals, version, created_at, updated_at"

func scanConnector(r rowScanner) (*app.Connector, error) {
	var c app.Connector
	var config string
	var credsAt, created, updated int64
	if err := r.Scan(&c.ID, &c.Name, &c.Type, &config, &c.SealedCredentials, &credsAt, &c.RequiredApprovals, &c.Version, &created, &updated); err != nil {
		return nil, err
	}
	c.Config = rawJSON(config)
	c.CredentialsUpdatedAt = fromOptMS(credsAt)
	c.CreatedAt, c.UpdatedAt = fromMS(created), fromMS(updated)
	return &c, nil
}

func (q queries) ConnectorByID(ctx context.Context, id int64) (*app.Connector, error) {
	c, err := scanConnector(q.queryRow(ctx, "SELECT "+connectorColumns+" FROM connectors WHERE id = ?", id))
	return c, mapErr("connector by id", "connector not found", err)
}

func (q queries) ListConnectors(ctx context.Context) ([]app.Connector, error) {
	return q.listConnectors(ctx, "list connectors", "SELECT "+connectorColumns+" FROM connectors ORDER BY name")
}

// ConnectorsWithCredentials lists, by id, every connector whose credentials
// are sealed (a rekey reseals them all).
func (q queries) ConnectorsWithCredentials(ctx context.Context) ([]app.Connector, error) {
	return q.listConnectors(ctx, "connectors with credentials",
		"SELECT "+connectorColumns+" FROM connectors WHERE sealed_credentials IS NOT NULL ORDER BY id")
}

func (q queries) listConnectors(ctx context.Context, op, query string) ([]app.Connector, error) {
	rows, err := q.query(ctx, query)
	if err != nil {
		return nil, mapErr(op, "", err)
	}
	defer rows.Close()
	var cs []app.Connector
	for rows.Next() {
		c, err := scanConnector(rows)
		if err != nil {
			return nil, mapErr(op, "", err)
		}
		cs = append(cs, *c)
	}
	return cs, mapErr(op, "", rows.Err())
}

// CreateConnector inserts c and sets c.ID; a taken name is ECONFLICT and
// RequiredApprovals below 1 is EINVALID. Zero CreatedAt/UpdatedAt become
// now and a zero Version 1.
func (t *tx) CreateConnector(ctx context.Context, c *app.Connector) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now()
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	c.CreatedAt, c.UpdatedAt = fromMS(toMS(c.CreatedAt)), fromMS(toMS(c.UpdatedAt))
	c.CredentialsUpdatedAt = roundOpt(c.CredentialsUpdatedAt)
	if c.Version == 0 {
		c.Version = 1
	}
	err := t.queryRow(ctx, `INSERT INTO connectors (name, type, config, sealed_credentials, credentials_updated_at, required_approvals, version, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		c.Name, c.Type, string(c.Config), sealed(c.SealedCredentials), toOptMS(c.CredentialsUpdatedAt), c.RequiredApprovals, c.Version,
		toMS(c.CreatedAt), toMS(c.UpdatedAt)).Scan(&c.ID)
	return mapErr("create connector", "", err)
}

// UpdateConnector writes every mutable column of c.ID (all but created_at);
// a zero UpdatedAt becomes now.
func (t *tx) UpdateConnector(ctx context.Context, c *app.Connector) error {
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = time.Now()
	}
	c.UpdatedAt = fromMS(toMS(c.UpdatedAt))
	c.CredentialsUpdatedAt = roundOpt(c.CredentialsUpdatedAt)
	res, err := t.exec(ctx, `UPDATE connectors SET name = ?, type = ?, config = ?, sealed_credentials = ?, credentials_updated_at = ?,
required_approvals = ?, version = ?, updated_at = ? WHERE id = ?`,
		c.Name, c.Type, string(c.Config), sealed(c.SealedCredentials), toOptMS(c.CredentialsUpdatedAt), c.RequiredApprovals, c.Version,
		toMS(c.UpdatedAt), c.ID)
	if err != nil {
		return mapErr("update connector", "", err)
	}
	return mustAffect(res, "update connector", "connector not found")
}

// DeleteConnector removes a connector no change request references; the
// foreign key (ON DELETE RESTRICT) refuses the others, which is ECONFLICT.
func (t *tx) DeleteConnector(ctx context.Context, id int64) error {
	res, err := t.exec(ctx, "DELETE FROM connectors WHERE id = ?", id)
	if err != nil {
		return mapDeleteErr("delete connector", "connector is used by change requests", err)
	}
	return mustAffect(res, "delete connector", "connector not found")
}

// sealed stores absent credentials as NULL, so that "has credentials" is
// sealed_credentials IS NOT NULL.
func sealed(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// rawJSON reads a JSON TEXT column back; the empty string (nothing stored)
// is a nil RawMessage.
func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}
