// Package app is Nexplane's domain: plain Go types, the rules that decide
// what may happen next, and the use cases that make it happen. It holds no
// SQL, no HTML and no net/http; the console (app/web), the JSON API (app/api)
// and the agent listener (app/agentapi) decode a request, call a Service
// method and render its answer.
//
// # One home per rule
//
// Whether an actor may do something now is decided here and nowhere else.
// Can answers the role table (role.go); the *Actions methods (actions.go:
// ChangeActions, AssetActions, DriftActions, AgentActions, ConnectorActions
// and ListActions) answer "which actions are allowed on this resource now,
// and why not the others" with the same checks the use cases enforce, so
// what a page offers and what the server accepts cannot drift apart.
// Handlers render that answer; they never compare roles or states
// themselves. Read models such as Dashboard are built here too.
//
// # The Store seam
//
// Store is the one large interface, because every use case needs it and
// both drivers (SQLite and PostgreSQL, package store) implement it. Reads go
// through Queries, on the store or inside a transaction; writes happen only
// inside Store.WithTx.
//
// # Every transition appends its audit event in the same transaction
//
// A use case that changes state opens one transaction, checks its rule on
// the row it locked, writes the change and appends the audit event that
// records it (Service.appendAudit). If the audit append fails, the change
// fails: there is no state change without its record, and no record of a
// change that did not happen.
//
// # Errors
//
// Errors meant for users are *Error values with a code (EINVALID,
// EFORBIDDEN, ECONFLICT, …) and a message safe to show. Any other error is
// internal: callers log it and show a generic message. The HTTP layers map
// codes to statuses in one table (app/httpx).
//
// # File conventions
//
// A feature's types and pure rules live in a singular file (change.go,
// asset.go, connector.go, user.go); its use cases, the Service methods, in
// the plural one (changes.go, assets.go, connectors.go, users.go). Ports to
// the outside are interfaces declared beside their consumers: Store in
// store.go, PasswordHasher and Clock in ports.go, Sealer in connector.go,
// AgentSigner in agent.go.
package app
