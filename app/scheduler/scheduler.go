// Package scheduler runs connector syncs when they are due (each connector's
// sync_interval, 15 minutes by default).
package scheduler

import (
	"context"
	"log/slog"
	"time"

	"github.com/nexplane/nexplane/app"
)

// Scheduler checks for due syncs every Poll and runs them one at a time, so
// syncs never compete with each other for the target or the database.
type Scheduler struct {
	svc   *app.Service
	store app.Store
	log   *slog.Logger
	poll  time.Duration
	now   app.Clock
}

// New builds a scheduler; poll 0 means every 30 seconds.
func New(svc *app.Service, log *slog.Logger, poll time.Duration) *Scheduler {
	if poll <= 0 {
		poll = 30 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return &Scheduler{svc: svc, store: svc.Store(), log: log, poll: poll, now: time.Now}
}

// Run works until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	t := time.NewTicker(s.poll)
	defer t.Stop()
	for {
		s.runDue(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Scheduler) runDue(ctx context.Context) {
	ids, err := s.store.DueSyncs(ctx, s.now())
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("scheduler: list due syncs", "err", err)
		}
		return
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return
		}
		res, err := s.svc.SyncConnector(ctx, app.SystemActor("scheduler"), id)
		if err != nil {
			s.log.Warn("scheduled sync failed", "connector_id", id, "err", err)
			continue
		}
		s.log.Info("synced connector", "connector_id", id, "seen", res.Seen, "drift", res.Drift, "findings_open", res.FindingsOpen)
	}
}
