package store

import (
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
)

func TestCheckpointsAppendOnly(t *testing.T) {
	mustOpenBoth(t, func(t *testing.T, db *DB) {
		ctx := t.Context()
		hex := strings.Repeat("0a", 32)
		for seq := range int64(3) {
			c := &app.Checkpoint{Seq: seq, Hash: hex, RecordDigest: hex, At: time.UnixMilli(1767225600000 + seq).UTC(),
				KeyID: "0123456789abcdef", Signature: []byte{1, 2, 3}}
			mustTx(t, db, func(tx app.Tx) error {
				stored, err := tx.AppendCheckpoint(ctx, c)
				if err == nil && !stored {
					t.Errorf("checkpoint %d not stored", seq)
				}
				return err
			})
		}
		// A second checkpoint of a seq (another server's) is not stored.
		mustTx(t, db, func(tx app.Tx) error {
			stored, err := tx.AppendCheckpoint(ctx, &app.Checkpoint{Seq: 2, Hash: hex, RecordDigest: hex, At: time.Now(), KeyID: "x"})
			if stored {
				t.Error("a second checkpoint of seq 2 was stored")
			}
			return err
		})
		after, err := db.CheckpointsAfter(ctx, 0, 10)
		if err != nil || len(after) != 2 || after[0].Seq != 1 || string(after[1].Signature) != "\x01\x02\x03" || after[1].KeyID != "0123456789abcdef" {
			t.Fatalf("after 0: %+v, %v", after, err)
		}
		newest, err := db.ListCheckpoints(ctx, 2, 10)
		if err != nil || len(newest) != 2 || newest[0].Seq != 1 || newest[1].Seq != 0 {
			t.Fatalf("below 2: %+v, %v", newest, err)
		}
		stmts := []string{
			"UPDATE audit_checkpoints SET hash = 'x' WHERE seq = 1",
			"DELETE FROM audit_checkpoints WHERE seq = 2",
			"DELETE FROM audit_checkpoints",
		}
		if db.Driver() == DriverPostgres {
			stmts = append(stmts, "TRUNCATE audit_checkpoints")
		}
		for _, s := range stmts {
			if _, err := db.execRaw(ctx, s); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s: err = %v, want the append-only refusal", s, err)
			}
		}
	})
}
