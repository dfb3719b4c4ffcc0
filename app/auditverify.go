package app

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// BreakKind names how the audit log was found altered.
type BreakKind string

const (
	BreakEdited       BreakKind = "edited"        // a record's contents changed
	BreakRemoved      BreakKind = "removed"       // records or checkpoints are missing
	BreakInserted     BreakKind = "inserted"      // records were added before a checkpointed one
	BreakTruncated    BreakKind = "truncated"     // the chain ends before the database's own last checkpoint
	BreakRolledBack   BreakKind = "rolled back"   // the chain ends before state kept elsewhere (witness, --expect)
	BreakBadSignature BreakKind = "bad signature" // a checkpoint is not signed by the key, or the key is not the pinned one
)

// ChainBreak is the first thing found wrong with the audit log.
type ChainBreak struct {
	Kind BreakKind
	// ID is the first bad record (0 when the break concerns a checkpoint or
	// the key alone).
	ID int64
	// Checkpoint is the seq of the checkpoint at fault, -1 when none.
	Checkpoint int64
	// Source says where that checkpoint came from: "database", "witness
	// line N" or "--expect".
	Source string
	// Line is the export file's line at fault when the break is in the
	// file's structure (0: none, or the end of the file).
	Line   int
	Reason string
}

// Where names the place of the break: a record, a checkpoint, an export
// line, or the key.
func (b *ChainBreak) Where() string {
	switch {
	case b.ID > 0:
		return fmt.Sprintf("record %d", b.ID)
	case b.Checkpoint >= 0:
		return fmt.Sprintf("checkpoint %d (%s)", b.Checkpoint, b.Source)
	case b.Line > 0:
		return fmt.Sprintf("line %d", b.Line)
	case b.Kind == BreakTruncated || b.Kind == BreakRemoved:
		return "end of file"
	default:
		return "key"
	}
}

func (b *ChainBreak) Error() string {
	return fmt.Sprintf("audit log broken at %s: %s: %s", b.Where(), b.Kind, b.Reason)
}

func recordBreak(kind BreakKind, id int64, reason string) *ChainBreak {
	return &ChainBreak{Kind: kind, ID: id, Checkpoint: -1, Reason: reason}
}

// ExpectedHead is a (seq, hash) the chain is known to have had, kept
// outside the database (`--expect seq:hash`).
type ExpectedHead struct {
	Seq  int64
	Hash string
}

// ParseExpectedHead reads "seq:hash".
func ParseExpectedHead(s string) (ExpectedHead, error) {
	seqS, hash, ok := strings.Cut(s, ":")
	seq, err := strconv.ParseInt(seqS, 10, 64)
	if !ok || err != nil || seq < 0 || !isLowerHex(hash, 64) {
		return ExpectedHead{}, Errorf(EINVALID, "expected head %q: want seq:hash (a record id and its 64 hex digit hash)", s)
	}
	return ExpectedHead{Seq: seq, Hash: hash}, nil
}

// WitnessCheckpoint is a checkpoint read from a witness file.
type WitnessCheckpoint struct {
	Line       int
	Checkpoint Checkpoint
}

// ReadWitness reads a witness file: one CheckpointLine JSON object per
// line; blank lines are skipped.
func ReadWitness(r io.Reader) ([]WitnessCheckpoint, error) {
	var out []WitnessCheckpoint
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		c, err := ParseCheckpointLine([]byte(line))
		if err != nil {
			return nil, Errorf(EINVALID, "witness line %d: %v", n, err)
		}
		out = append(out, WitnessCheckpoint{Line: n, Checkpoint: *c})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read witness: %w", err)
	}
	return out, nil
}

// VerifyOptions extends verification to state kept outside the database.
type VerifyOptions struct {
	// PinnedKey, when set, is the only key checkpoints may be signed with;
	// a database holding another key is broken.
	PinnedKey ed25519.PublicKey
	Witness   []WitnessCheckpoint
	Expect    []ExpectedHead
}

// AuditVerification is what a successful verify established.
type AuditVerification struct {
	Records        int64 // records in the chain, all linked
	Head           int64 // id of the newest record (0: empty)
	Checkpoints    int   // checkpoints in the database, all valid
	LastCheckpoint int64 // seq of the newest checkpoint
	KeyID          string
	Witnessed      int // witness checkpoints and expected heads that held
}

// VerifyAudit checks the whole audit log against the public key only (no
// SECRET_KEY): the hash chain from the first record, every stored
// checkpoint's signature and that it matches the record at its seq, that
// the head is at or past the last checkpoint, and then every witness
// checkpoint and expected head. The first failure is returned as a
// *ChainBreak; counts are filled as far as verification got.
func (s *Service) VerifyAudit(ctx context.Context, opts VerifyOptions) (*AuditVerification, error) {
	res := &AuditVerification{}
	key, err := s.AuditPublicKey(ctx)
	switch {
	case ErrCode(err) == ENOTFOUND:
		return res, &ChainBreak{Kind: BreakRemoved, Checkpoint: -1, Reason: "the database holds no audit signing key " +
			"(no server or CLI with SECRET_KEY has opened it, or the key was removed)"}
	case err != nil:
		return res, fmt.Errorf("verify audit: %w", err)
	}
	res.KeyID = AuditKeyID(key)
	if opts.PinnedKey != nil && !opts.PinnedKey.Equal(key) {
		return res, &ChainBreak{Kind: BreakBadSignature, Checkpoint: -1, Reason: fmt.Sprintf(
			"the database's key %s is not the pinned key %s", res.KeyID, AuditKeyID(opts.PinnedKey))}
	}

	v := newChainVerifier()
	if err := s.store.WalkAudit(ctx, time.Time{}, time.Time{}, v.next); err != nil {
		res.Records = v.n
		return res, err
	}
	res.Records, res.Head = v.n, v.prevID

	cv := chainView{s: s, head: res.Head}

	// The database's checkpoints, oldest first.
	stored := map[int64]string{}
	good := int64(0) // the last seq a checkpoint vouched for
	for after := int64(-1); ; {
		cs, err := s.store.CheckpointsAfter(ctx, after, MaxCheckpointLimit)
		if err != nil {
			return res, fmt.Errorf("verify audit: %w", err)
		}
		for i := range cs {
			c := &cs[i]
			if err := checkCheckpoint(c, key, "database"); err != nil {
				return res, err
			}
			if c.Seq > res.Head {
				return res, &ChainBreak{Kind: BreakTruncated, ID: res.Head + 1, Checkpoint: c.Seq, Source: "database",
					Reason: fmt.Sprintf("the chain ends at record %d but was checkpointed at record %d: records %d..%d were removed",
						res.Head, c.Seq, res.Head+1, c.Seq)}
			}
			h, err := cv.hashAt(ctx, c.Seq)
			if err != nil {
				return res, err
			}
			if h != c.Hash {
				return res, cv.mismatch(ctx, c, "database", good)
			}
			stored[c.Seq] = c.Hash
			good = c.Seq
			res.Checkpoints++
			res.LastCheckpoint = c.Seq
		}
		if len(cs) < MaxCheckpointLimit {
			break
		}
		after = cs[len(cs)-1].Seq
	}
	if res.Checkpoints == 0 {
		// A new key checkpoints the head at once, so a key without
		// checkpoints means they were deleted.
		return res, &ChainBreak{Kind: BreakRemoved, Checkpoint: -1, Source: "database",
			Reason: "the database holds a signing key but no checkpoint: checkpoints were removed"}
	}

	// State kept elsewhere.
	for _, w := range opts.Witness {
		c := &w.Checkpoint
		source := fmt.Sprintf("witness line %d", w.Line)
		if err := checkCheckpoint(c, key, source); err != nil {
			return res, err
		}
		if err := cv.outside(ctx, c, source); err != nil {
			return res, err
		}
		if _, ok := stored[c.Seq]; !ok {
			return res, &ChainBreak{Kind: BreakRemoved, Checkpoint: c.Seq, Source: source,
				Reason: fmt.Sprintf("the database lacks the checkpoint at record %d that %s holds: checkpoints were removed", c.Seq, source)}
		}
		res.Witnessed++
	}
	for _, x := range opts.Expect {
		if err := cv.outside(ctx, &Checkpoint{Seq: x.Seq, Hash: x.Hash}, "--expect"); err != nil {
			return res, err
		}
		res.Witnessed++
	}
	return res, nil
}

// chainView answers questions about the stored chain, whose newest record
// is head, for VerifyAudit and CheckWitnessHead.
type chainView struct {
	s    *Service
	head int64
}

// hashAt is the chain's hash at seq, "" past the head.
func (v chainView) hashAt(ctx context.Context, seq int64) (string, error) {
	if seq == 0 {
		return GenesisHash, nil
	}
	if seq > v.head {
		return "", nil
	}
	e, err := v.s.store.AuditByID(ctx, seq)
	if err != nil {
		return "", fmt.Errorf("verify audit: record %d: %w", seq, err)
	}
	return e.Hash, nil
}

// mismatch classifies a checkpoint whose hash is not the chain's at its
// seq by where the checkpointed record (its content digest) is now:
// later (records were inserted before it), earlier (records removed and
// the rest renumbered), or at its seq or nowhere (records before it
// changed and the chain recomputed). Only a failed verify pays this walk.
func (v chainView) mismatch(ctx context.Context, c *Checkpoint, source string, after int64) error {
	b := &ChainBreak{Kind: BreakEdited, ID: c.Seq, Checkpoint: c.Seq, Source: source}
	found := int64(-1)
	err := v.s.store.WalkAudit(ctx, time.Time{}, time.Time{}, func(e *AuditEvent) error {
		d, err := e.ContentDigest()
		if err == nil && d == c.RecordDigest && (found < 0 || abs(e.ID-c.Seq) < abs(found-c.Seq)) {
			found = e.ID
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("verify audit: %w", err)
	}
	switch {
	case found > c.Seq:
		b.Kind = BreakInserted
		b.Reason = fmt.Sprintf("the record checkpointed at %d (%s) is now record %d: %d records were inserted after record %d",
			c.Seq, source, found, found-c.Seq, after)
	case found >= 0 && found < c.Seq:
		b.Kind = BreakRemoved
		b.Reason = fmt.Sprintf("the record checkpointed at %d (%s) is now record %d: %d records after record %d were removed and the rest renumbered",
			c.Seq, source, found, c.Seq-found, after)
	default:
		b.Reason = fmt.Sprintf("the chain at record %d is not the one checkpointed (%s): records %d..%d were changed and the chain recomputed",
			c.Seq, source, after+1, c.Seq)
	}
	return b
}

// outside checks a checkpoint kept outside the database (witness,
// --expect) against the chain.
func (v chainView) outside(ctx context.Context, c *Checkpoint, source string) error {
	if c.Seq > v.head {
		return &ChainBreak{Kind: BreakRolledBack, ID: v.head + 1, Checkpoint: c.Seq, Source: source,
			Reason: fmt.Sprintf("the chain ends at record %d but %s saw record %d: the database was rolled back or records %d..%d removed",
				v.head, source, c.Seq, v.head+1, c.Seq)}
	}
	h, err := v.hashAt(ctx, c.Seq)
	if err != nil {
		return err
	}
	if h != c.Hash {
		return v.mismatch(ctx, c, source, 0)
	}
	return nil
}

// checkCheckpoint is the signature check of every checkpoint, wherever it
// was read (source).
func checkCheckpoint(c *Checkpoint, key ed25519.PublicKey, source string) error {
	if !c.VerifySignature(key) {
		return &ChainBreak{Kind: BreakBadSignature, Checkpoint: c.Seq, Source: source,
			Reason: fmt.Sprintf("checkpoint at record %d (key %s) is not signed by key %s", c.Seq, c.KeyID, AuditKeyID(key))}
	}
	return nil
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

// chainVerifier checks records handed to it in ascending id order, from the
// first (or, for an export starting mid-history, from a link taken as
// given), against the chain so far: the one chain walk of both the
// database's and an export file's verify.
type chainVerifier struct {
	prevID   int64
	prevHash string
	n        int64 // records that held
}

func newChainVerifier() *chainVerifier { return &chainVerifier{prevHash: GenesisHash} }

func (v *chainVerifier) next(e *AuditEvent) error {
	if err := verifyLink(e, v.prevID, v.prevHash); err != nil {
		return err
	}
	v.prevID, v.prevHash = e.ID, e.Hash
	v.n++
	return nil
}

func verifyLink(e *AuditEvent, prevID int64, prevHash string) error {
	if e.ID != prevID+1 {
		return recordBreak(BreakRemoved, e.ID, fmt.Sprintf("expected record %d next: records %d..%d are missing", prevID+1, prevID+1, e.ID-1))
	}
	h, err := e.ComputeHash()
	if err != nil {
		return recordBreak(BreakEdited, e.ID, "record cannot be encoded: "+err.Error())
	}
	if h != e.Hash {
		return recordBreak(BreakEdited, e.ID, "hash does not match the record's contents")
	}
	if e.PrevHash != prevHash {
		// This record is intact, so the one before it was rewritten with a
		// recomputed hash (or replaced).
		return recordBreak(BreakEdited, max(e.ID-1, 1), fmt.Sprintf("record %d's prev_hash does not match this record's hash: it was changed and its hash recomputed", e.ID))
	}
	return nil
}
