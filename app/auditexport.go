package app

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"
)

// AuditRecordJSON is the one JSON shape of a stored audit record with every
// column (SIEM messages and export lines): enough to recompute its hash.
type AuditRecordJSON struct {
	ID           int64           `json:"id"`
	AtMS         int64           `json:"at_ms"`
	ActorType    ActorType       `json:"actor_type"`
	ActorID      string          `json:"actor_id"`
	ActorEmail   string          `json:"actor_email"`
	Event        string          `json:"event"`
	ResourceType string          `json:"resource_type"`
	ResourceID   string          `json:"resource_id"`
	Payload      json.RawMessage `json:"payload"`
	PrevHash     string          `json:"prev_hash"`
	Hash         string          `json:"hash"`
}

// RecordJSON returns e with every stored column.
func (e *AuditEvent) RecordJSON() AuditRecordJSON {
	return AuditRecordJSON{ID: e.ID, AtMS: e.At.UnixMilli(), ActorType: e.ActorType, ActorID: e.ActorID,
		ActorEmail: e.ActorEmail, Event: e.Event, ResourceType: e.ResourceType, ResourceID: e.ResourceID,
		Payload: e.Payload, PrevHash: e.PrevHash, Hash: e.Hash}
}

// AuditEvent is the record r describes.
func (r *AuditRecordJSON) AuditEvent() *AuditEvent {
	return &AuditEvent{ID: r.ID, At: time.UnixMilli(r.AtMS).UTC(), ActorType: r.ActorType, ActorID: r.ActorID,
		ActorEmail: r.ActorEmail, Event: r.Event, ResourceType: r.ResourceType, ResourceID: r.ResourceID,
		Payload: r.Payload, PrevHash: r.PrevHash, Hash: r.Hash}
}

// AuditExportFormat names the export line format.
const AuditExportFormat = "nexplane-audit-export-v1"

// Export line types: one header, then records in ascending id order, each
// checkpoint right after the record at its seq, and an end line whose
// absence means the export was cut short.
const (
	ExportHeader     = "header"
	ExportRecord     = "record"
	ExportCheckpoint = "checkpoint"
	ExportEnd        = "end"
)

type exportHeaderLine struct {
	Type       string `json:"type"`
	Format     string `json:"format"`
	Algorithm  string `json:"algorithm"`
	KeyID      string `json:"key_id"`
	PublicKey  string `json:"public_key"` // standard base64
	From       string `json:"from,omitempty"`
	To         string `json:"to,omitempty"`
	ExportedAt string `json:"exported_at"`
}

type exportRecordLine struct {
	Type string `json:"type"`
	AuditRecordJSON
}

type exportCheckpointLine struct {
	Type string `json:"type"`
	CheckpointLine
}

type exportEndLine struct {
	Type    string `json:"type"`
	Records int64  `json:"records"`
}

// checkExportAudit allows a complete export only to those who may read
// every record: the chain cannot be verified with records left out.
func checkExportAudit(actor Actor) error {
	if err := actor.require(ActReadAudit); err != nil {
		return err
	}
	if actor.auditTypes() != nil {
		return Errorf(EFORBIDDEN, "exporting the audit log needs a role that may read every record (admin)")
	}
	return nil
}

// AuditExport is an export checked and ready to stream.
type AuditExport struct {
	svc      *Service
	from, to time.Time
	key      ed25519.PublicKey
}

// PrepareAuditExport checks the request before anything is written, so a
// refusal is still an ordinary error response.
func (s *Service) PrepareAuditExport(ctx context.Context, actor Actor, from, to time.Time) (*AuditExport, error) {
	if err := checkExportAudit(actor); err != nil {
		return nil, err
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return nil, Errorf(EINVALID, "from must be before to")
	}
	key, err := s.AuditPublicKey(ctx)
	if err != nil {
		if ErrCode(err) == ENOTFOUND {
			return nil, Errorf(ECONFLICT, "no audit signing key yet: the server has not started on this database")
		}
		return nil, fmt.Errorf("audit export: %w", err)
	}
	return &AuditExport{svc: s, from: from, to: to, key: key}, nil
}

// WriteTo streams the export as JSON Lines without holding it in memory.
// On error the end line is missing, so the output never passes for a
// complete export.
func (x *AuditExport) WriteTo(ctx context.Context, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	h := exportHeaderLine{Type: ExportHeader, Format: AuditExportFormat, Algorithm: "ed25519", KeyID: AuditKeyID(x.key),
		PublicKey: base64.StdEncoding.EncodeToString(x.key), ExportedAt: x.svc.now().UTC().Format(time.RFC3339Nano)}
	if !x.from.IsZero() {
		h.From = x.from.UTC().Format(time.RFC3339Nano)
	}
	if !x.to.IsZero() {
		h.To = x.to.UTC().Format(time.RFC3339Nano)
	}
	if err := enc.Encode(h); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	var (
		n       int64
		pending []Checkpoint // checkpoints at or after the current record
		more    = true       // the store may hold checkpoints past pending
	)
	err := x.svc.store.WalkAudit(ctx, x.from, x.to, func(e *AuditEvent) error {
		if err := enc.Encode(exportRecordLine{Type: ExportRecord, AuditRecordJSON: e.RecordJSON()}); err != nil {
			return err
		}
		n++
		for len(pending) > 0 && pending[0].Seq < e.ID {
			pending = pending[1:]
		}
		if len(pending) == 0 && more {
			cs, err := x.svc.store.CheckpointsAfter(ctx, e.ID-1, MaxCheckpointLimit)
			if err != nil {
				return err
			}
			pending, more = cs, len(cs) == MaxCheckpointLimit
		}
		if len(pending) > 0 && pending[0].Seq == e.ID {
			if err := enc.Encode(exportCheckpointLine{Type: ExportCheckpoint, CheckpointLine: pending[0].Line()}); err != nil {
				return err
			}
			pending = pending[1:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit export after %d records: %w", n, err)
	}
	if err := enc.Encode(exportEndLine{Type: ExportEnd, Records: n}); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	return nil
}

// ExportVerification is what verifying an export file established.
type ExportVerification struct {
	Records     int64
	FirstID     int64 // 0: no records
	LastID      int64
	MidHistory  bool // the export starts after record 1: its first prev_hash is taken as given
	Checkpoints int
	// LastCheckpoint is the seq of the last checkpoint in the file (0: none).
	LastCheckpoint int64
	KeyID          string
	Pinned         bool // the key was pinned by the caller, not only read from the file
	From, To       string
}

// VerifyAuditExport checks an export offline with the public key only: the
// chain between its records (the same walk as VerifyAudit), every
// checkpoint's signature and that it matches the record before it, and
// the end line. With pinned nil the header's key is trusted, which proves
// only that the file is consistent; its KeyID must then be compared with
// the server's by other means.
func VerifyAuditExport(r io.Reader, pinned ed25519.PublicKey) (*ExportVerification, error) {
	res := &ExportVerification{}
	lineBreak := func(n int, kind BreakKind, format string, args ...any) error {
		return &ChainBreak{Kind: kind, Checkpoint: -1, Line: n, Reason: fmt.Sprintf(format, args...)}
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var (
		key  ed25519.PublicKey
		v    *chainVerifier
		last *AuditEvent
		end  = -1 // line of the end line
	)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if end >= 0 {
			return res, lineBreak(n, BreakInserted, "a line follows the end line (line %d)", end)
		}
		// Records, nearly every line, are parsed once; the rare other
		// lines again as what their type says.
		var typ exportRecordLine
		if err := json.Unmarshal(line, &typ); err != nil {
			return res, lineBreak(n, BreakEdited, "not an export line: %v", err)
		}
		if key == nil && typ.Type != ExportHeader {
			return res, lineBreak(n, BreakRemoved, "the export does not start with a header line")
		}
		switch typ.Type {
		case ExportHeader:
			if key != nil {
				return res, lineBreak(n, BreakInserted, "a second header line")
			}
			var h exportHeaderLine
			if err := json.Unmarshal(line, &h); err != nil {
				return res, lineBreak(n, BreakEdited, "header: %v", err)
			}
			raw, err := base64.StdEncoding.DecodeString(h.PublicKey)
			if h.Format != AuditExportFormat || err != nil || len(raw) != ed25519.PublicKeySize {
				return res, lineBreak(n, BreakEdited, "header: not a %s header with a base64 Ed25519 public key", AuditExportFormat)
			}
			key = ed25519.PublicKey(raw)
			res.KeyID, res.From, res.To = AuditKeyID(key), h.From, h.To
			if pinned != nil {
				if !pinned.Equal(key) {
					return res, &ChainBreak{Kind: BreakBadSignature, Checkpoint: -1, Line: n, Reason: fmt.Sprintf(
						"the export's key %s is not the pinned key %s", res.KeyID, AuditKeyID(pinned))}
				}
				res.Pinned = true
			}
		case ExportRecord:
			e := typ.AuditEvent()
			if v == nil {
				// The chain before the first exported record is not in the
				// file: its link is taken as given.
				v = newChainVerifier()
				if e.ID != 1 {
					if res.From == "" {
						return res, recordBreak(BreakRemoved, e.ID, fmt.Sprintf(
							"the export has no start time but begins at record %d: records 1..%d are missing", e.ID, e.ID-1))
					}
					v.prevID, v.prevHash = e.ID-1, e.PrevHash
					res.MidHistory = true
				}
				res.FirstID = e.ID
			}
			if err := v.next(e); err != nil {
				return res, err
			}
			last = e
			res.Records, res.LastID = v.n, e.ID
		case ExportCheckpoint:
			c, err := ParseCheckpointLine(line)
			if err != nil {
				return res, lineBreak(n, BreakEdited, "%v", err)
			}
			if err := checkCheckpoint(c, key, "line "+fmt.Sprint(n)); err != nil {
				return res, err
			}
			if last == nil || last.ID != c.Seq {
				return res, &ChainBreak{Kind: BreakInserted, Checkpoint: c.Seq, Source: fmt.Sprintf("line %d", n),
					Reason: "the checkpoint does not follow the record at its seq"}
			}
			if d, err := last.ContentDigest(); err != nil || c.Hash != last.Hash || c.RecordDigest != d {
				return res, &ChainBreak{Kind: BreakEdited, ID: c.Seq, Checkpoint: c.Seq, Source: fmt.Sprintf("line %d", n),
					Reason: fmt.Sprintf("record %d is not the one checkpointed: it or records before it were changed and the chain recomputed", c.Seq)}
			}
			res.Checkpoints++
			res.LastCheckpoint = c.Seq
		case ExportEnd:
			var l exportEndLine
			if err := json.Unmarshal(line, &l); err != nil {
				return res, lineBreak(n, BreakEdited, "end: %v", err)
			}
			if l.Records != res.Records {
				return res, lineBreak(n, BreakRemoved, "the end line counts %d records but the file holds %d", l.Records, res.Records)
			}
			end = n
		default:
			return res, lineBreak(n, BreakEdited, "unknown line type %q", typ.Type)
		}
	}
	if err := sc.Err(); err != nil {
		return res, fmt.Errorf("read export: %w", err)
	}
	if key == nil {
		return res, lineBreak(0, BreakRemoved, "the file holds no export header")
	}
	if end < 0 {
		return res, lineBreak(0, BreakTruncated, "the export has no end line: it was cut short after record %d", res.LastID)
	}
	return res, nil
}
