package app

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// AuditPage is one page of audit records, newest first.
type AuditPage struct {
	Events     []AuditEvent
	NextCursor string // empty on the last page
}

// AuditQuery is the user-facing filter: the cursor is opaque and the limit
// is validated rather than silently clamped.
type AuditQuery struct {
	From, To     time.Time
	ResourceType string
	ResourceID   string
	Actor        string
	Event        string
	Cursor       string
	Limit        int // 0 = default
}

// auditTypeAction is what a role must be allowed to do to read the audit
// records of a resource type. Records of users (roles, logins and their
// client addresses), connectors (their configuration) and settings are the
// admin's: a role that may not see those resources may not read their
// history either. A type missing here is shown to admins only, so a new
// kind of record is hidden until someone decides who may read it.
var auditTypeAction = map[string]Action{
	"user":              ActManageUsers,
	"session":           ActManageUsers,
	"connector":         ActManageConnector,
	"settings":          ActManageSettings,
	"change_request":    ActReadChanges,
	"asset":             ActReadAssets,
	"agent":             ActReadAudit,
	"enrollment_token":  ActReadAudit,
	"api_token":         ActManageUsers,
	"identity_provider": ActManageSettings,
}

// AuditReadableTypes returns the resource types whose audit records role may
// read, sorted, or nil when it may read every record.
func AuditReadableTypes(role Role) []string {
	var types []string
	all := true
	for t, act := range auditTypeAction {
		if Can(role, act) {
			types = append(types, t)
		} else {
			all = false
		}
	}
	if all {
		return nil
	}
	slices.Sort(types)
	return types
}

// auditTypes is AuditReadableTypes for an actor; system actors (the CLI,
// the server) read everything.
func (a Actor) auditTypes() []string {
	if a.Type == ActorSystem {
		return nil
	}
	return AuditReadableTypes(a.Role)
}

// ListAudit returns one page of the audit log: the records the actor's
// role may read (AuditReadableTypes), filtered by the store so that pages
// stay full.
func (s *Service) ListAudit(ctx context.Context, actor Actor, q AuditQuery) (*AuditPage, error) {
	if err := actor.require(ActReadAudit); err != nil {
		return nil, err
	}
	want, beforeID, err := pageRequest(q.Limit, DefaultAuditLimit, MaxAuditLimit, q.Cursor)
	if err != nil {
		return nil, err
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return nil, Errorf(EINVALID, "from must be before to")
	}
	// One extra row tells whether another page exists.
	f := AuditFilter{From: q.From, To: q.To, ResourceType: q.ResourceType, ResourceID: q.ResourceID,
		Actor: q.Actor, Event: q.Event, BeforeID: beforeID, Limit: min(want+1, MaxAuditLimit),
		ReadableTypes: actor.auditTypes()}
	evs, err := s.store.ListAudit(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	page := &AuditPage{Events: evs}
	if len(evs) > want {
		page.Events = evs[:want]
		page.NextCursor = EncodeCursor(evs[want-1].ID)
	} else if len(evs) == want && want == MaxAuditLimit {
		// At the cap we could not fetch the extra row; offer a cursor and
		// let the next page come back empty if this was the end.
		page.NextCursor = EncodeCursor(evs[want-1].ID)
	}
	return page, nil
}

// AuditEvent returns one record. A record the actor's role may not read is
// not found, exactly like a missing one, so its existence is not revealed.
func (s *Service) AuditEvent(ctx context.Context, actor Actor, id int64) (*AuditEvent, error) {
	if err := actor.require(ActReadAudit); err != nil {
		return nil, err
	}
	e, err := s.store.AuditByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !auditReadable(actor.auditTypes(), e.ResourceType) {
		return nil, Errorf(ENOTFOUND, "audit record not found")
	}
	return e, nil
}

func auditReadable(types []string, resourceType string) bool {
	return types == nil || slices.Contains(types, resourceType)
}

// ExportAudit streams records with at in [from, to) in ascending order.
func (s *Service) ExportAudit(ctx context.Context, actor Actor, from, to time.Time, fn func(*AuditEvent) error) error {
	if err := actor.require(ActReadAudit); err != nil {
		return err
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return Errorf(EINVALID, "from must be before to")
	}
	types := actor.auditTypes()
	return s.store.WalkAudit(ctx, from, to, func(e *AuditEvent) error {
		if !auditReadable(types, e.ResourceType) {
			return nil
		}
		return fn(e)
	})
}
