package dispatch

import (
	"context"
	"log/slog"
	"time"

	"github.com/nexplane/nexplane/app"
)

// revocationOverlap re-reads a window of past revocations on every check,
// so one committed late by another server (its revoked_at before the newest
// seen here) is not missed. Hub.Revoke is idempotent, so repeats cost a map
// lookup.
const revocationOverlap = 10 * time.Second

// WatchRevocations closes the open polls of agents revoked by any server
// sharing the database: every interval (1 s in production) it asks for
// revocations since the newest it has seen, one indexed query whatever the
// number of agents, instead of one query per open poll per second. In this
// process RevokeAgent tells the hub directly (app.Config.AgentRevoked);
// this covers the others. It returns when ctx ends.
func WatchRevocations(ctx context.Context, svc *app.Service, hub *Hub, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.Default()
	}
	// Polls open before this process started do not exist, so a short look
	// back is enough.
	cursor := svc.Now().Add(-time.Minute)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		revs, err := svc.AgentRevocationsSince(ctx, cursor.Add(-revocationOverlap))
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("check agent revocations", "err", err)
			}
			continue
		}
		for _, r := range revs {
			hub.Revoke(r.AgentID)
			if r.At.After(cursor) {
				cursor = r.At
			}
		}
	}
}
