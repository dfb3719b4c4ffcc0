package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/nexplane/nexplane/app"
)

// conflictMessages gives a safe message per unique constraint, keyed by the
// name SQLite reports ("table.column") and the one PostgreSQL reports.
var conflictMessages = map[string]string{
	"users.email":     "a user with this email already exists",
	"users_email_key": "a user with this email already exists",
	"sessions.id":     "this session already exists",
	"sessions_pkey":   "this session already exists",
	"audit_log.id":    "the audit log changed concurrently; try again",
	"audit_log_pkey":  "the audit log changed concurrently; try again",

	"connectors.name":                     "a connector with this name already exists",
	"connectors_name_key":                 "a connector with this name already exists",
	"change_operations.change_request_id": "two operations share one position in the change request",
	"change_operations_seq_key":           "two operations share one position in the change request",
	"reveals.operation_id":                "this operation already has a secret waiting to be shown",
	"reveals_operation_id_key":            "this operation already has a secret waiting to be shown",

	"assets.connector_id":    "the connector already has an asset of this kind with this external id",
	"assets_external_id_key": "the connector already has an asset of this kind with this external id",
	"findings.asset_id":      "the asset already has an open finding of this rule",
	"findings_open":          "the asset already has an open finding of this rule",

	"agents.id":                        "an agent with this id already exists",
	"agents_pkey":                      "an agent with this id already exists",
	"agents.cert_serial":               "a certificate with this serial is already recorded",
	"agents_cert_serial_key":           "a certificate with this serial is already recorded",
	"enrollment_tokens.token_hash":     "this enrollment token already exists",
	"enrollment_tokens_token_hash_key": "this enrollment token already exists",
	"agent_relay.work_id":              "this work item is already being relayed",
	"agent_relay_pkey":                 "this work item is already being relayed",

	"api_tokens.token_hash":      "this API token already exists",
	"api_tokens_token_hash_key":  "this API token already exists",
	"passkeys.credential_id":     "this passkey is already registered",
	"passkeys_credential_id_key": "this passkey is already registered",
	"passkeys.user_id":           "you already have a passkey with this name",
	"passkeys_user_id_name_key":  "you already have a passkey with this name",
	"passkey_ceremonies.id":      "this passkey ceremony already exists",
	"passkey_ceremonies_pkey":    "this passkey ceremony already exists",

	"identity_providers.name":              "an identity provider with this name already exists",
	"identity_providers_name_key":          "an identity provider with this name already exists",
	"user_sign_in.provider_id":             "another user is linked to this identity already",
	"user_sign_in_provider_id_subject_key": "another user is linked to this identity already",
	"sso_logins.id":                        "this login is already in progress",
	"sso_logins_pkey":                      "this login is already in progress",
}

// mapErr is the one place where driver errors become app codes. op says what
// was being done ("create user"); notFound is the message for sql.ErrNoRows
// ("" when no row is not expected). The driver's error is the app error's
// cause, for errors.As and logs, while app.ErrMessage shows only the safe
// message.
func mapErr(op, notFound string, err error) error {
	if err == nil {
		return nil
	}
	var ae *app.Error
	if errors.As(err, &ae) {
		return err
	}
	if notFound != "" && errors.Is(err, sql.ErrNoRows) {
		return app.Errorf(app.ENOTFOUND, "%s", notFound)
	}
	if msg, ok := unavailableOf(err); ok {
		return fmt.Errorf("%s: %w", op, app.Wrap(app.EUNAVAILABLE, err, "%s", msg))
	}
	if code, name, ok := constraintOf(err); ok {
		msg := "a value is not allowed"
		switch code {
		case app.ECONFLICT:
			if msg, ok = conflictMessages[name]; !ok {
				msg = "the record already exists"
			}
		case app.ENOTFOUND:
			msg = "a referenced record does not exist"
		default:
			code = app.EINVALID
		}
		return fmt.Errorf("%s: %w", op, app.Wrap(code, err, "%s", msg))
	}
	return fmt.Errorf("%s: %w", op, err)
}

// Messages of the unavailable errors mapErr makes: the database did not
// answer, or it has no room left. Both are the server's trouble, not the
// request's, and pass once an operator acts, so the caller is told to retry.
const (
	msgDatabaseUnavailable = "the database is not answering; try again shortly"
	msgStorageFull         = "storage full: the database has no room left for changes; nothing was saved"
)

// unavailableOf recognises a database that cannot be reached, did not
// answer within its deadline, or has run out of disk, from either driver.
// A caller's own cancellation (context.Canceled) is not among them: that
// is the client leaving, not the database failing.
func unavailableOf(err error) (msg string, ok bool) {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary code; extended codes add bits above
		case sqlite3.SQLITE_FULL:
			return msgStorageFull, true
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			// busy_timeout ran out: another writer held the lock too long.
			return msgDatabaseUnavailable, true
		case sqlite3.SQLITE_IOERR:
			if errors.Is(err, syscall.ENOSPC) || strings.Contains(se.Error(), "disk is full") {
				return msgStorageFull, true
			}
		}
		return "", false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "53100": // disk_full
			return msgStorageFull, true
		case strings.HasPrefix(pe.Code, "08"), // connection_exception
			pe.Code == "57014",                                         // query_canceled: statement_timeout
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, crash, cannot connect now
			pe.Code == "53300": // too_many_connections
			return msgDatabaseUnavailable, true
		}
		return "", false
	}
	if errors.Is(err, syscall.ENOSPC) {
		return msgStorageFull, true
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce), pgconn.Timeout(err), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne), errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone),
		errors.Is(err, pgconn.ErrConnClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET):
		return msgDatabaseUnavailable, true
	}
	return "", false
}

// markUnavailable gives err the app code EUNAVAILABLE when it is a database
// that cannot answer (unavailableOf) and carries no app code yet; other
// errors pass unchanged. It is for errors that did not go through mapErr:
// those of Ping and a transaction's begin and commit, and driver errors
// (fromDriver) that WithTx's fn returns as is.
func markUnavailable(err error) error {
	var ae *app.Error
	if err == nil || errors.As(err, &ae) {
		return err
	}
	if msg, ok := unavailableOf(err); ok {
		return app.Wrap(app.EUNAVAILABLE, err, "%s", msg)
	}
	return err
}

// fromDriver reports whether err certainly comes from a database driver.
// WithTx marks only those unavailable among the errors fn returns: fn may
// also fail on its own network calls, and a timeout talking to an LDAP
// server must not read "the database is not answering".
func fromDriver(err error) bool {
	var se *sqlite.Error
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	return errors.As(err, &se) || errors.As(err, &pe) || errors.As(err, &ce) || pgconn.Timeout(err) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone)
}

// mapDeleteErr is mapErr for a DELETE: there a foreign key violation means
// that other rows still reference the row (ON DELETE RESTRICT), a conflict
// described by inUse, not a missing reference as on INSERT.
func mapDeleteErr(op, inUse string, err error) error {
	if code, _, ok := constraintOf(err); ok && code == app.ENOTFOUND {
		return fmt.Errorf("%s: %w", op, app.Wrap(app.ECONFLICT, err, "%s", inUse))
	}
	return mapErr(op, "", err)
}

// constraintOf classifies a constraint violation from either driver and
// returns the constraint's name as the driver reports it.
func constraintOf(err error) (code app.ErrorCode, name string, ok bool) {
	var se *sqlite.Error
	if errors.As(err, &se) {
		// SQLite names the columns only in the message, e.g.
		// "constraint failed: UNIQUE constraint failed: users.email (2067)".
		msg := se.Error()
		if i := strings.LastIndex(msg, "constraint failed: "); i >= 0 {
			name, _, _ = strings.Cut(msg[i+len("constraint failed: "):], " ")
			// A multi-column key lists "t.a, t.b"; its first column names it.
			name = strings.TrimSuffix(name, ",")
		}
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return app.ECONFLICT, name, true
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return app.ENOTFOUND, name, true
		case sqlite3.SQLITE_CONSTRAINT_CHECK, sqlite3.SQLITE_CONSTRAINT_NOTNULL:
			return app.EINVALID, name, true
		}
		if strings.Contains(msg, "UNIQUE constraint failed") {
			return app.ECONFLICT, name, true
		}
		// ON DELETE RESTRICT fails with SQLITE_CONSTRAINT_TRIGGER, not
		// SQLITE_CONSTRAINT_FOREIGNKEY; the message is the same.
		if strings.Contains(msg, "FOREIGN KEY constraint failed") {
			return app.ENOTFOUND, name, true
		}
		return "", "", false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return app.ECONFLICT, pe.ConstraintName, true
		case "23503": // foreign_key_violation
			return app.ENOTFOUND, pe.ConstraintName, true
		case "23514", "23502": // check_violation, not_null_violation
			return app.EINVALID, pe.ConstraintName, true
		}
	}
	return "", "", false
}
