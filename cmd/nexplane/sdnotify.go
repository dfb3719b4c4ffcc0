package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"
)

// sdNotify sends one systemd notification ("READY=1", "WATCHDOG=1") to
// NOTIFY_SOCKET. Without the variable (not under systemd) it does nothing.
// The protocol is one datagram on a unix socket; no library needed.
func sdNotify(getenv func(string) string, state string) error {
	path := getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' { // abstract socket namespace
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// watchdogInterval is half of WATCHDOG_USEC (systemd's advice), or 0 when
// the unit has no watchdog or it is meant for another process.
func watchdogInterval(getenv func(string) string, pid int) time.Duration {
	usec, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// keepWatchdog pings systemd's watchdog while the server is ready: only a
// live process that can still reach its database keeps the unit up.
func keepWatchdog(ctx context.Context, e *env, every time.Duration, healthy func(context.Context) error) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			hctx, cancel := context.WithTimeout(ctx, every)
			err := healthy(hctx)
			cancel()
			if err != nil {
				e.log.Warn("watchdog: not ready; withholding the keep-alive", "err", err)
				continue
			}
			if err := sdNotify(e.getenv, "WATCHDOG=1"); err != nil {
				e.log.Warn("watchdog keep-alive", "err", err)
			}
		}
	}
}
