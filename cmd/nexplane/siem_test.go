package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/siem"
	"github.com/nexplane/nexplane/app/siem/syslogtest"
	"github.com/nexplane/nexplane/store"
)

// appendRecords opens the server's database while no server runs and
// appends n audit records, as a busy server would have.
func appendRecords(t *testing.T, c *cli, n int) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "", c.env["NEXPLANE_DATA_DIR"], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	// One transaction: a commit per record would take a disk flush each.
	err = db.WithTx(ctx, func(tx app.Tx) error {
		for i := 0; i < n; i++ {
			e, err := app.NewAuditEvent(time.Now(), app.SystemActor("test"), "test.event", "asset", strconv.Itoa(i),
				map[string]int{"n": i})
			if err != nil {
				return err
			}
			if err := tx.AppendAudit(ctx, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// syslogArrived returns how many distinct audit records rsyslogd received.
func syslogArrived(t *testing.T, rs *syslogtest.Server) int {
	t.Helper()
	msgs, err := rs.Messages()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range msgs {
		if strings.HasPrefix(m.MsgID, "audit-") {
			seen[m.MsgID] = true
		}
	}
	return len(seen)
}

// checkSyslog checks every message rsyslogd received against the stored
// record (byte for byte) and returns how many distinct records arrived.
func checkSyslog(t *testing.T, rs *syslogtest.Server, c *cli) int {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, "", c.env["NEXPLANE_DATA_DIR"], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	msgs, err := rs.Messages()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, m := range msgs {
		if strings.HasPrefix(m.MsgID, "checkpoint-") {
			continue // app/siem checks them
		}
		id, err := strconv.ParseInt(strings.TrimPrefix(m.MsgID, "audit-"), 10, 64)
		if err != nil {
			t.Fatalf("MSGID %q", m.MsgID)
		}
		if seen[id] {
			continue
		}
		e, err := db.AuditByID(ctx, id)
		if err != nil {
			t.Fatalf("record %d: %v", id, err)
		}
		want, err := siem.AuditJSON(e)
		if err != nil {
			t.Fatal(err)
		}
		if m.Msg != string(want) {
			t.Fatalf("record %d arrived as\n%s\nstored as\n%s", id, m.Msg, want)
		}
		seen[id] = true
	}
	return len(seen)
}

func auditHead(t *testing.T, c *cli) int64 {
	t.Helper()
	db, err := store.Open(context.Background(), "", c.env["NEXPLANE_DATA_DIR"], slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h, err := db.AuditHead(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSyslogSurvivesServerKill kills the server with SIGKILL while it
// forwards a backlog, appends more while it is down, and restarts it: every
// record reaches rsyslogd exactly as stored, none is missing.
func TestSyslogSurvivesServerKill(t *testing.T) {
	rs := syslogtest.Start(t)
	c := newCLI(t)
	c.env["NEXPLANE_SYSLOG_URL"] = rs.URL()
	c.env["NEXPLANE_SYSLOG_CA_FILE"] = rs.CAFile
	appendRecords(t, c, 3000)

	srv := startServerProc(t, c)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\n%s", what, srv.logs.String())
			}
		}
	}
	waitFor("the first records at rsyslogd", func() bool { return syslogArrived(t, rs) > 0 })
	srv.kill()
	t.Logf("killed the server with %d of 3000 records delivered", syslogArrived(t, rs))

	appendRecords(t, c, 50)
	head := auditHead(t, c)
	srv = startServerProc(t, c)
	waitFor("every record at rsyslogd", func() bool { return int64(syslogArrived(t, rs)) >= head })
	if n := checkSyslog(t, rs, c); int64(n) != head {
		t.Fatalf("%d distinct records at rsyslogd, want %d", n, head)
	}

	// /readyz tells how forwarding goes and stays 200 while the SIEM is down.
	readyz := func() map[string]any {
		t.Helper()
		resp, err := insecureClient().Get(srv.base + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Status string         `json:"status"`
			Syslog map[string]any `json:"syslog"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 || body.Status != "ready" {
			t.Fatalf("readyz: %d %v %+v", resp.StatusCode, err, body)
		}
		return body.Syslog
	}
	waitFor("a clean syslog status", func() bool {
		s := readyz()
		return s["ok"] == true && s["backlog"] == float64(0) && s["last_seq"] == float64(head) && s["target"] == rs.URL()
	})
	rs.Kill()
	// A login appends a record in the server, which wakes the forwarder.
	if code, _, stderr := c.run("a long enough password\n", "user", "create", "--email", "admin@example.com", "--role", "admin", "--password-stdin"); code != 0 {
		t.Fatal(stderr)
	}
	login(t, srv.base, "admin@example.com")
	waitFor("the outage in /readyz", func() bool {
		s := readyz()
		return s["ok"] == false && s["last_error"] != "" && s["backlog"].(float64) > 0
	})
}
