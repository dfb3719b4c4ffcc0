package siem_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/siem"
	"github.com/nexplane/nexplane/app/siem/syslogtest"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store"
	"github.com/nexplane/nexplane/store/storetest"
)

func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// received checks that every message rs holds is a record of db exactly as
// stored (the JSON of its row), naming the first mismatch; duplicates are
// allowed (at-least-once). It returns how many distinct records arrived.
func received(t testing.TB, rs *syslogtest.Server, db app.Store) (distinct int, mismatch string) {
	t.Helper()
	msgs, err := rs.Messages()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, m := range msgs {
		if strings.HasPrefix(m.MsgID, "checkpoint-") {
			continue
		}
		id, err := strconv.ParseInt(strings.TrimPrefix(m.MsgID, "audit-"), 10, 64)
		if err != nil {
			return 0, "bad MSGID " + m.MsgID
		}
		e, err := db.AuditByID(context.Background(), id)
		if err != nil {
			return 0, fmt.Sprintf("record %d: %v", id, err)
		}
		want, err := siem.AuditJSON(e)
		if err != nil {
			t.Fatal(err)
		}
		if m.Msg != string(want) {
			return 0, fmt.Sprintf("record %d arrived as\n%s\nstored as\n%s", id, m.Msg, want)
		}
		seen[id] = true
	}
	return len(seen), ""
}

// receivedCheckpoints returns the seqs of the checkpoints rs holds, each
// checked to be a stored checkpoint's line exactly.
func receivedCheckpoints(t testing.TB, rs *syslogtest.Server, db app.Store) map[int64]bool {
	t.Helper()
	msgs, err := rs.Messages()
	if err != nil {
		t.Fatal(err)
	}
	stored, err := db.CheckpointsAfter(context.Background(), -1, app.MaxCheckpointLimit)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := range stored {
		want["checkpoint-"+strconv.FormatInt(stored[i].Seq, 10)] = stored[i].MarshalLine()
	}
	seen := map[int64]bool{}
	for _, m := range msgs {
		seqS, ok := strings.CutPrefix(m.MsgID, "checkpoint-")
		if !ok {
			continue
		}
		if m.Msg != want[m.MsgID] {
			t.Fatalf("%s arrived as\n%s\nstored as\n%s", m.MsgID, m.Msg, want[m.MsgID])
		}
		seq, _ := strconv.ParseInt(seqS, 10, 64)
		seen[seq] = true
	}
	return seen
}

func appendN(t testing.TB, db app.Store, n int) {
	for i := 0; i < n; i++ {
		testkit.AppendAudit(t, db, "test.event", "asset", strconv.Itoa(i))
	}
}

// TestForwardAcrossOutage: records and checkpoints stored before, during
// and after an rsyslogd crash all arrive, each exactly as stored, and the
// status shows the outage while it lasts.
func TestForwardAcrossOutage(t *testing.T) {
	storetest.MustOpenBoth(t, func(t *testing.T, db *store.DB) {
		rs := syslogtest.Start(t)
		target, err := siem.ParseTarget(rs.URL(), rs.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		svc := app.NewService(app.Config{Store: db})
		ctx, cancel := context.WithCancel(t.Context())
		fw := siem.New(siem.Config{Store: db, Target: target, Owner: "test", Poll: 50 * time.Millisecond})
		db.OnAuditCommitted(fw.Notify)
		done := make(chan struct{})
		go func() { fw.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		signer := app.NewAuditSigner(priv)
		checkpoint := func() int64 {
			t.Helper()
			c, err := svc.WriteCheckpoint(t.Context(), signer)
			if err != nil || c == nil {
				t.Fatalf("checkpoint: %v %v", c, err)
			}
			fw.Notify()
			return c.Seq
		}

		appendN(t, db, 30)
		waitUntil(t, "the first 30 records at rsyslogd", func() bool {
			n, bad := received(t, rs, db)
			if bad != "" {
				t.Fatal(bad)
			}
			return n == 30
		})
		cp := []int64{checkpoint()}

		rs.Kill()
		appendN(t, db, 30)
		cp = append(cp, checkpoint())
		waitUntil(t, "the outage on the status", func() bool {
			st, err := svc.OutboxStatus(ctx, app.OutboxSyslog)
			if err != nil {
				t.Fatal(err)
			}
			return st.LastError != "" && st.Head == 60
		})
		rs.Restart(t)
		appendN(t, db, 20)
		cp = append(cp, checkpoint())
		waitUntil(t, "all 80 records at rsyslogd", func() bool {
			n, bad := received(t, rs, db)
			if bad != "" {
				t.Fatal(bad)
			}
			return n == 80
		})
		waitUntil(t, "a clean status", func() bool {
			st, err := svc.OutboxStatus(ctx, app.OutboxSyslog)
			if err != nil {
				t.Fatal(err)
			}
			return st.LastError == "" && st.Backlog == 0 && st.LastSeq == 80
		})
		// The checkpoints went on the same connection, through the outage.
		waitUntil(t, "checkpoints 30, 60 and 80 at rsyslogd", func() bool {
			got := receivedCheckpoints(t, rs, db)
			return got[cp[0]] && got[cp[1]] && got[cp[2]]
		})
		if cp[0] != 30 || cp[1] != 60 || cp[2] != 80 {
			t.Fatalf("checkpoints at %v, want 30, 60, 80", cp)
		}
	})
}

func TestParseTarget(t *testing.T) {
	for _, tc := range []struct {
		url, ca string
		ok      bool
	}{
		{"tcp+tls://siem.example.com:6514", "", true},
		{"tcp://127.0.0.1:514", "", true},
		{"tcp://localhost:514", "", true},
		{"tcp://siem.example.com:514", "", false}, // clear text off the machine
		{"udp://127.0.0.1:514", "", false},
		{"tcp+tls://siem.example.com", "", false}, // no port
		{"tcp+tls://user:pw@siem.example.com:6514", "", false},
		{"tcp+tls://siem.example.com:6514", "/nonexistent/ca.pem", false},
		{"tcp://127.0.0.1:514", "/etc/hosts", false},
		{"siem.example.com:6514", "", false},
	} {
		_, err := siem.ParseTarget(tc.url, tc.ca)
		if (err == nil) != tc.ok {
			t.Errorf("ParseTarget(%q, %q) = %v, want ok=%v", tc.url, tc.ca, err, tc.ok)
		}
	}
}
