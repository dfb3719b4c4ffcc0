package app

import (
	"context"
	"fmt"
	"time"
)

// OutboxSyslog is the outbox cursor of SIEM forwarding over syslog.
const OutboxSyslog = "syslog"

// OutboxSyslogCheckpoints is the cursor of the signed checkpoints sent on
// the same syslog connection: the SIEM then holds a witness too.
const OutboxSyslogCheckpoints = "syslog-checkpoints"

// OutboxCursor is the durable position of one outbound stream of audit
// records (syslog today; webhooks and email later). LastSeq is the id of the
// last record delivered: a sender resends from LastSeq+1 after an outage or
// a restart, so nothing is lost and duplicates are possible (at-least-once).
// The lease elects one sender among servers that share a database.
type OutboxCursor struct {
	Name       string
	LastSeq    int64
	LastError  string // the last delivery failure; empty after a success
	UpdatedAt  time.Time
	LeaseOwner string
	LeaseUntil time.Time
}

// OutboxStatus is what an operator needs to know about one stream.
type OutboxStatus struct {
	Name      string
	LastSeq   int64
	Head      int64 // the newest audit id
	Backlog   int64 // Head - LastSeq: records not yet delivered
	LastError string
	UpdatedAt time.Time // zero before the first attempt
}

// OutboxStatus reports how far the outbound stream name is behind the audit
// log. It takes no actor: /readyz shows it to monitoring; the console asks
// OutboxStatusFor.
func (s *Service) OutboxStatus(ctx context.Context, name string) (*OutboxStatus, error) {
	c, err := s.store.OutboxCursor(ctx, name)
	if ErrCode(err) == ENOTFOUND { // nothing sent yet
		c, err = &OutboxCursor{Name: name}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", name, err)
	}
	head, err := s.store.AuditHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("outbox %s: %w", name, err)
	}
	return &OutboxStatus{Name: name, LastSeq: c.LastSeq, Head: head, Backlog: max(head-c.LastSeq, 0),
		LastError: c.LastError, UpdatedAt: c.UpdatedAt}, nil
}

// OutboxStatusFor is OutboxStatus for a person: delivery errors name the
// SIEM, which is the settings' business.
func (s *Service) OutboxStatusFor(ctx context.Context, actor Actor, name string) (*OutboxStatus, error) {
	if err := actor.require(ActManageSettings); err != nil {
		return nil, err
	}
	return s.OutboxStatus(ctx, name)
}
