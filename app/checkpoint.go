package app

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
)

// Settings holding the audit signing key: the private half sealed by the
// vault (re-sealed by rekey), the public half in the clear so that a
// verifier needs no SECRET_KEY.
const (
	AuditSigningKeySetting = "audit.checkpoint_signing_key"
	AuditPublicKeySetting  = "audit.checkpoint_public_key"
)

// checkpointDomain separates checkpoint signatures from anything else the
// key could ever sign.
const checkpointDomain = "nexplane-audit-checkpoint-v1"

// Checkpoint is a signed statement that the audit chain had Hash at record
// Seq at time At. Seq 0 with GenesisHash is the empty chain.
type Checkpoint struct {
	Seq  int64
	Hash string
	// RecordDigest is the record at Seq without its place in the chain
	// (AuditEvent.ContentDigest), so that verify can tell records inserted
	// or removed before it from an edit; GenesisHash for seq 0.
	RecordDigest string
	At           time.Time // UTC, millisecond precision
	KeyID        string
	Signature    []byte // Ed25519 over CheckpointSignedBytes
}

// CheckpointSignedBytes is exactly what a checkpoint signature covers:
//
//	nexplane-audit-checkpoint-v1\n
//	seq=<decimal>\n
//	hash=<64 lowercase hex>\n
//	record_digest=<64 lowercase hex>\n
//	at_ms=<unix milliseconds, decimal>\n
//	key_id=<key id>\n
//
// No field can hold a newline (they are validated), so the encoding is
// unambiguous.
func CheckpointSignedBytes(seq int64, hash, recordDigest string, at time.Time, keyID string) []byte {
	var b bytes.Buffer
	b.WriteString(checkpointDomain + "\n")
	b.WriteString("seq=" + strconv.FormatInt(seq, 10) + "\n")
	b.WriteString("hash=" + hash + "\n")
	b.WriteString("record_digest=" + recordDigest + "\n")
	b.WriteString("at_ms=" + strconv.FormatInt(at.UnixMilli(), 10) + "\n")
	b.WriteString("key_id=" + keyID + "\n")
	return b.Bytes()
}

// AuditKeyID names a public key: the first 16 hex digits of its SHA-256.
func AuditKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// CheckpointLine is the JSON form of a checkpoint, one object per line in
// the server log ("audit checkpoint") and in witness files, and the API's.
type CheckpointLine struct {
	Seq          int64  `json:"seq"`
	Hash         string `json:"hash"`
	RecordDigest string `json:"record_digest"`
	At           string `json:"at"` // RFC 3339, UTC, milliseconds
	KeyID        string `json:"key_id"`
	Signature    string `json:"signature"` // standard base64
}

// Line returns c as a CheckpointLine.
func (c *Checkpoint) Line() CheckpointLine {
	return CheckpointLine{Seq: c.Seq, Hash: c.Hash, RecordDigest: c.RecordDigest, At: c.At.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		KeyID: c.KeyID, Signature: base64.StdEncoding.EncodeToString(c.Signature)}
}

// MarshalLine is c as one JSON line without the trailing newline.
func (c *Checkpoint) MarshalLine() string {
	b, _ := json.Marshal(c.Line()) // plain strings and numbers cannot fail
	return string(b)
}

// ParseCheckpointLine reads one witness/log line.
func ParseCheckpointLine(line []byte) (*Checkpoint, error) {
	var l CheckpointLine
	if err := json.Unmarshal(line, &l); err != nil {
		return nil, fmt.Errorf("checkpoint line: %w", err)
	}
	at, err := time.Parse(time.RFC3339Nano, l.At)
	if err != nil {
		return nil, fmt.Errorf("checkpoint line: at: %w", err)
	}
	sig, err := base64.StdEncoding.DecodeString(l.Signature)
	if err != nil {
		return nil, fmt.Errorf("checkpoint line: signature: %w", err)
	}
	c := &Checkpoint{Seq: l.Seq, Hash: l.Hash, RecordDigest: l.RecordDigest, At: at.UTC(), KeyID: l.KeyID, Signature: sig}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("checkpoint line: %w", err)
	}
	return c, nil
}

func (c *Checkpoint) validate() error {
	if c.Seq < 0 {
		return fmt.Errorf("seq %d is negative", c.Seq)
	}
	if !isLowerHex(c.Hash, 64) {
		return fmt.Errorf("hash is not 64 lowercase hex digits")
	}
	if !isLowerHex(c.RecordDigest, 64) {
		return fmt.Errorf("record_digest is not 64 lowercase hex digits")
	}
	if !isLowerHex(c.KeyID, 16) {
		return fmt.Errorf("key_id is not 16 lowercase hex digits")
	}
	return nil
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// VerifySignature reports whether c is well formed and signed by pub.
func (c *Checkpoint) VerifySignature(pub ed25519.PublicKey) bool {
	if c.validate() != nil || len(pub) != ed25519.PublicKeySize || c.KeyID != AuditKeyID(pub) {
		return false
	}
	return ed25519.Verify(pub, CheckpointSignedBytes(c.Seq, c.Hash, c.RecordDigest, c.At, c.KeyID), c.Signature)
}

// AuditSigner signs checkpoints with the server's audit key.
type AuditSigner struct {
	priv  ed25519.PrivateKey
	keyID string
}

// NewAuditSigner wraps a private key.
func NewAuditSigner(priv ed25519.PrivateKey) *AuditSigner {
	return &AuditSigner{priv: priv, keyID: AuditKeyID(priv.Public().(ed25519.PublicKey))}
}

// KeyID names the signer's public key.
func (a *AuditSigner) KeyID() string { return a.keyID }

// PublicKey is the half anyone may hold to verify.
func (a *AuditSigner) PublicKey() ed25519.PublicKey { return a.priv.Public().(ed25519.PublicKey) }

// Sign makes the checkpoint for the chain head (seq, hash, its record's
// digest) at at.
func (a *AuditSigner) Sign(seq int64, hash, recordDigest string, at time.Time) *Checkpoint {
	at = at.UTC().Truncate(time.Millisecond)
	return &Checkpoint{Seq: seq, Hash: hash, RecordDigest: recordDigest, At: at, KeyID: a.keyID,
		Signature: ed25519.Sign(a.priv, CheckpointSignedBytes(seq, hash, recordDigest, at, a.keyID))}
}

// LoadOrCreateAuditSigner returns the audit signing key, creating it on
// first start (created reports that; the caller logs the public key once).
// Two servers starting at once agree on one key through CreateSetting; a
// key sealed under SECRET_KEY_PREVIOUS keeps working until rekey re-seals it.
// A new key immediately checkpoints the current head, so from then on a
// database without checkpoints has lost them.
func (s *Service) LoadOrCreateAuditSigner(ctx context.Context) (signer *AuditSigner, created bool, err error) {
	if s.sealer == nil {
		return nil, false, fmt.Errorf("audit signing key: no sealer configured")
	}
	sealed, err := s.store.Setting(ctx, AuditSigningKeySetting)
	switch {
	case err == nil:
		signer, err := s.openAuditKey(sealed)
		return signer, false, err
	case ErrCode(err) != ENOTFOUND:
		return nil, false, fmt.Errorf("read audit signing key: %w", err)
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, false, fmt.Errorf("generate audit signing key: %w", err)
	}
	mine, err := s.sealer.Seal(priv.Seed(), SettingAD(AuditSigningKeySetting))
	if err != nil {
		return nil, false, fmt.Errorf("seal audit signing key: %w", err)
	}
	signer = NewAuditSigner(priv)
	err = s.store.WithTx(ctx, func(tx Tx) error {
		if created, err = tx.CreateSetting(ctx, AuditSigningKeySetting, mine); err != nil || !created {
			return err
		}
		if err := tx.PutSetting(ctx, AuditPublicKeySetting, pub); err != nil {
			return err
		}
		_, err := s.checkpointTx(ctx, tx, signer)
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("store audit signing key: %w", err)
	}
	if created {
		return signer, true, nil
	}
	stored, err := s.store.Setting(ctx, AuditSigningKeySetting) // another starter won
	if err != nil {
		return nil, false, fmt.Errorf("read audit signing key: %w", err)
	}
	signer, err = s.openAuditKey(stored)
	return signer, false, err
}

func (s *Service) openAuditKey(sealed []byte) (*AuditSigner, error) {
	seed, err := s.sealer.Open(sealed, SettingAD(AuditSigningKeySetting))
	if err != nil {
		return nil, fmt.Errorf("open audit signing key (setting %s): %w", AuditSigningKeySetting, err)
	}
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("audit signing key has %d bytes, want %d", len(seed), ed25519.SeedSize)
	}
	return NewAuditSigner(ed25519.NewKeyFromSeed(seed)), nil
}

// AuditPublicKey returns the public key stored in the database
// (ENOTFOUND before the server's first start).
func (s *Service) AuditPublicKey(ctx context.Context) (ed25519.PublicKey, error) {
	b, err := s.store.Setting(ctx, AuditPublicKeySetting)
	if err != nil {
		return nil, err
	}
	if len(b) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("audit public key has %d bytes, want %d", len(b), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(b), nil
}

// AuditKeyInfo is the published public key.
type AuditKeyInfo struct {
	Algorithm string // "ed25519"
	KeyID     string
	PublicKey ed25519.PublicKey
}

// AuditCheckpointKey returns the public key checkpoints are signed with.
func (s *Service) AuditCheckpointKey(ctx context.Context, actor Actor) (*AuditKeyInfo, error) {
	if err := actor.require(ActReadAudit); err != nil {
		return nil, err
	}
	pub, err := s.AuditPublicKey(ctx)
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return nil, Errorf(ENOTFOUND, "no audit signing key yet")
		}
		return nil, fmt.Errorf("audit public key: %w", err)
	}
	return &AuditKeyInfo{Algorithm: "ed25519", KeyID: AuditKeyID(pub), PublicKey: pub}, nil
}

// WriteCheckpoint signs the current chain head when it is past the last
// checkpoint and stores it; it returns nil when there was nothing new.
// Every checkpoint is logged as one INFO "audit checkpoint" line carrying
// its CheckpointLine, so log shipping makes a witness.
func (s *Service) WriteCheckpoint(ctx context.Context, signer *AuditSigner) (*Checkpoint, error) {
	var c *Checkpoint
	err := s.store.WithTx(ctx, func(tx Tx) error {
		var err error
		c, err = s.checkpointTx(ctx, tx, signer)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("write audit checkpoint: %w", err)
	}
	return c, nil
}

func (s *Service) checkpointTx(ctx context.Context, tx Tx, signer *AuditSigner) (*Checkpoint, error) {
	head, err := auditHead(ctx, tx)
	if err != nil {
		return nil, err
	}
	seq, hash, digest := int64(0), GenesisHash, GenesisHash
	if head != nil {
		if digest, err = head.ContentDigest(); err != nil {
			return nil, err
		}
		seq, hash = head.ID, head.Hash
	}
	last, err := tx.ListCheckpoints(ctx, 0, 1)
	if err != nil {
		return nil, err
	}
	if len(last) > 0 && last[0].Seq >= seq {
		return nil, nil
	}
	c := signer.Sign(seq, hash, digest, s.now())
	stored, err := tx.AppendCheckpoint(ctx, c)
	if err != nil || !stored { // not stored: another server checkpointed this seq
		return nil, err
	}
	s.log.Info("audit checkpoint", "checkpoint", c.MarshalLine())
	return c, nil
}

// auditHead is the newest record, nil when there is none.
func auditHead(ctx context.Context, q Queries) (*AuditEvent, error) {
	evs, err := q.ListAudit(ctx, AuditFilter{Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("audit head: %w", err)
	}
	if len(evs) == 0 {
		return nil, nil
	}
	return &evs[0], nil
}

// RunCheckpoints writes a checkpoint every interval while new records
// arrive, and a last one when ctx ends (shutdown). Appends never wait for
// it: it reads the head once per interval. stored, when not nil, is called
// with each checkpoint once it is committed (the witness file).
func (s *Service) RunCheckpoints(ctx context.Context, signer *AuditSigner, every time.Duration, stored func(*Checkpoint)) {
	t := time.NewTicker(every)
	defer t.Stop()
	write := func(ctx context.Context) error {
		c, err := s.WriteCheckpoint(ctx, signer)
		if c != nil && stored != nil {
			stored(c)
		}
		return err
	}
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := write(final); err != nil {
				s.log.Error("audit checkpoint at shutdown", "err", err)
			}
			cancel()
			return
		case <-t.C:
			if err := write(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("audit checkpoint", "err", err)
			}
		}
	}
}

// CheckpointPage is one page of checkpoints, newest first.
type CheckpointPage struct {
	Checkpoints []Checkpoint
	NextCursor  string
}

const (
	DefaultCheckpointLimit = 50
	MaxCheckpointLimit     = 500
)

// ListCheckpoints pages the checkpoints, newest first; the cursor is the
// seq the next page starts below (keyset, like the audit list).
func (s *Service) ListCheckpoints(ctx context.Context, actor Actor, cursor string, limit int) (*CheckpointPage, error) {
	if err := actor.require(ActReadAudit); err != nil {
		return nil, err
	}
	want, beforeSeq, err := pageRequest(limit, DefaultCheckpointLimit, MaxCheckpointLimit, cursor)
	if err != nil {
		return nil, err
	}
	cs, err := s.store.ListCheckpoints(ctx, beforeSeq, want+1)
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	page := &CheckpointPage{Checkpoints: cs}
	if len(cs) > want {
		page.Checkpoints = cs[:want]
		// Seq 0 (the empty chain) is always the last page's last entry.
		page.NextCursor = EncodeCursor(cs[want-1].Seq)
	}
	return page, nil
}
