package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/internal/testkit"
)

// TestCheckpointSignedBytes pins the documented encoding (README) and
// checks that every signed field matters.
func TestCheckpointSignedBytes(t *testing.T) {
	h, d := strings.Repeat("ab", 32), strings.Repeat("cd", 32)
	at := time.UnixMilli(1767225600123).UTC()
	want := "nexplane-audit-checkpoint-v1\nseq=42\nhash=" + h + "\nrecord_digest=" + d + "\nat_ms=1767225600123\nkey_id=0123456789abcdef\n"
	if got := string(app.CheckpointSignedBytes(42, h, d, at, "0123456789abcdef")); got != want {
		t.Fatalf("signed bytes\n%q\nwant\n%q", got, want)
	}

	env := testkit.NewService(t, testkit.Options{})
	signer, created, err := env.Service.LoadOrCreateAuditSigner(t.Context())
	if err != nil || !created {
		t.Fatalf("first load: created %v, %v", created, err)
	}
	c := signer.Sign(42, h, d, at)
	parsed, err := app.ParseCheckpointLine([]byte(c.MarshalLine()))
	if err != nil || !parsed.VerifySignature(signer.PublicKey()) {
		t.Fatalf("line %s does not round-trip to a valid checkpoint: %v", c.MarshalLine(), err)
	}
	altered := []func(c *app.Checkpoint){
		func(c *app.Checkpoint) { c.Seq++ },
		func(c *app.Checkpoint) { c.Hash = strings.Repeat("ee", 32) },
		func(c *app.Checkpoint) { c.RecordDigest = strings.Repeat("ee", 32) },
		func(c *app.Checkpoint) { c.At = c.At.Add(time.Millisecond) },
		func(c *app.Checkpoint) { c.KeyID = "fedcba9876543210" },
		func(c *app.Checkpoint) { c.Signature = bytes.Clone(c.Signature); c.Signature[0] ^= 1 },
	}
	for i, alter := range altered {
		x := *parsed
		alter(&x)
		if x.VerifySignature(signer.PublicKey()) {
			t.Errorf("alteration %d still verifies", i)
		}
	}

	// A second start loads the same key; the public half is in the clear.
	again, created, err := env.Service.LoadOrCreateAuditSigner(t.Context())
	if err != nil || created || again.KeyID() != signer.KeyID() {
		t.Fatalf("second load: %v created %v, %v", again, created, err)
	}
	pub, err := env.Service.AuditPublicKey(t.Context())
	if err != nil || !pub.Equal(signer.PublicKey()) {
		t.Fatalf("stored public key %x, %v", pub, err)
	}
}

// syncLog collects log output written from the checkpoint loop.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRunCheckpoints: the loop checkpoints new records while they arrive,
// writes nothing while none do, checkpoints at shutdown, and logs every
// checkpoint as one line a witness can keep.
func TestRunCheckpoints(t *testing.T) {
	var logs syncLog
	env := testkit.NewService(t, testkit.Options{Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	ctx := t.Context()
	signer, _, err := env.Service.LoadOrCreateAuditSigner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	last := func() app.Checkpoint {
		cs, err := env.DB.ListCheckpoints(ctx, 0, 1)
		if err != nil || len(cs) != 1 {
			t.Fatalf("last checkpoint: %v, %v", cs, err)
		}
		return cs[0]
	}
	if c := last(); c.Seq != 0 || c.Hash != app.GenesisHash {
		t.Fatalf("a new key checkpoints the empty chain first, got %+v", c)
	}

	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { env.Service.RunCheckpoints(runCtx, signer, 10*time.Millisecond, nil); close(done) }()
	testkit.MustCreateUser(t, env.Service, "a@example.com", app.RoleViewer)
	for deadline := time.Now().Add(10 * time.Second); last().Seq != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the loop did not checkpoint record 1")
		}
		runtime.Gosched()
	}
	stop()
	<-done
	// A loop that never ticks still checkpoints at shutdown.
	runCtx, stop = context.WithCancel(ctx)
	done = make(chan struct{})
	go func() { env.Service.RunCheckpoints(runCtx, signer, time.Hour, nil); close(done) }()
	testkit.MustCreateUser(t, env.Service, "b@example.com", app.RoleViewer)
	stop()
	<-done
	if c := last(); c.Seq != 2 {
		t.Errorf("after shutdown the last checkpoint is at %d, want 2 (the shutdown checkpoint)", c.Seq)
	}
	if n, err := env.DB.CheckpointsAfter(ctx, -1, 0); err != nil || len(n) != 3 {
		t.Errorf("checkpoints %d, %v; want 3 (0, 1, 2): no checkpoint without new records", len(n), err)
	}
	// Every checkpoint was logged as a witness line.
	var witness strings.Builder
	for _, line := range strings.Split(logs.String(), "\n") {
		var rec struct{ Msg, Checkpoint string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "audit checkpoint" {
			witness.WriteString(rec.Checkpoint + "\n")
		}
	}
	ws, err := app.ReadWitness(strings.NewReader(witness.String()))
	if err != nil || len(ws) != 3 {
		t.Fatalf("logged witness lines %d, %v:\n%s", len(ws), err, logs.String())
	}
	res, err := env.Service.VerifyAudit(ctx, app.VerifyOptions{Witness: ws, PinnedKey: signer.PublicKey()})
	if err != nil || res.Records != 2 || res.Checkpoints != 3 || res.Witnessed != 3 {
		t.Fatalf("verify: %+v, %v", res, err)
	}
}

// TestListCheckpointsPages pages newest first with a keyset cursor.
func TestListCheckpointsPages(t *testing.T) {
	env := testkit.NewService(t, testkit.Options{})
	ctx := t.Context()
	signer, _, err := env.Service.LoadOrCreateAuditSigner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		testkit.MustCreateUser(t, env.Service, string(rune('a'+i))+"@example.com", app.RoleViewer)
		if _, err := env.Service.WriteCheckpoint(ctx, signer); err != nil {
			t.Fatal(err)
		}
	}
	admin := app.SystemActor("test")
	var seqs []int64
	cursor := ""
	for pages := 0; ; pages++ {
		p, err := env.Service.ListCheckpoints(ctx, admin, cursor, 2)
		if err != nil || pages > 3 {
			t.Fatalf("page %d: %v", pages, err)
		}
		for _, c := range p.Checkpoints {
			seqs = append(seqs, c.Seq)
		}
		if cursor = p.NextCursor; cursor == "" {
			break
		}
	}
	if got := fmt.Sprint(seqs); got != "[4 3 2 1 0]" {
		t.Errorf("paged seqs %s, want [4 3 2 1 0]", got)
	}
	if _, err := env.Service.ListCheckpoints(ctx, admin, "", app.MaxCheckpointLimit+1); app.ErrCode(err) != app.EINVALID {
		t.Errorf("limit above max: %v", err)
	}
}
