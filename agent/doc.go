// Package agent is the Nexplane host agent: enrollment with a pinned CA,
// the mutual-TLS channel to the control plane (long-poll, results,
// heartbeats, certificate renewal) and the execution of the typed host
// operations of package ops against a system root.
//
// The agent only dials out; it never listens on a port. It uses the
// standard library only, so what runs as root on a host stays auditable.
package agent
