package app

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// auditFields is a record as the store holds it, one string per column,
// so that a mutation can hit any byte of any column.
func auditFields(e *AuditEvent) []string {
	return []string{strconv.FormatInt(e.ID, 10), strconv.FormatInt(e.At.UnixMilli(), 10), string(e.ActorType), e.ActorID,
		e.ActorEmail, e.Event, e.ResourceType, e.ResourceID, string(e.Payload), e.PrevHash, e.Hash}
}

// auditFromFields reverses auditFields; false when a number column no
// longer holds a number (the store could not hold that record).
func auditFromFields(f []string) (*AuditEvent, bool) {
	id, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return nil, false
	}
	ms, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return nil, false
	}
	return &AuditEvent{ID: id, At: time.UnixMilli(ms).UTC(), ActorType: ActorType(f[2]), ActorID: f[3], ActorEmail: f[4],
		Event: f[5], ResourceType: f[6], ResourceID: f[7], Payload: []byte(f[8]), PrevHash: f[9], Hash: f[10]}, true
}

// FuzzVerifyAuditChain builds a three-record chain from the input, checks
// that it verifies, then changes one byte of one column of one record and
// checks that the walk behind `nexplane audit verify` reports a break at
// that record or the next.
func FuzzVerifyAuditChain(f *testing.F) {
	f.Add("alice@example.com", "user.created", "note", int64(1767225600000), uint8(1), uint8(4), uint16(0), byte('A'))
	f.Add("bob@example.com", "change.executed", `quote " and <tag>`, int64(0), uint8(0), uint8(8), uint16(3), byte(' '))
	f.Add("", "", "", int64(-1), uint8(2), uint8(0), uint16(0), byte('9'))
	f.Add("c@example.com", "asset.drift_detected", "é", int64(1767225600123), uint8(2), uint8(1), uint16(12), byte('4'))
	f.Add("d@example.com", "user.role_changed", "x", int64(1767225600000), uint8(0), uint8(10), uint16(63), byte('f'))
	f.Add("e@example.com", "user.role_changed", "x", int64(1767225600000), uint8(1), uint8(9), uint16(0), byte('1'))
	f.Add("f@example.com", "user.login", "x", int64(1767225600000), uint8(1), uint8(2), uint16(0), byte('u')) // no-op: "user" stays
	// An invalid UTF-8 byte in a text column, which JSON alone would encode
	// as the same U+FFFD as any other invalid byte.
	f.Add("g@example.com", "user.login", "x", int64(1767225600000), uint8(1), uint8(5), uint16(2), byte(0xff))
	f.Fuzz(func(t *testing.T, email, event, note string, atMS int64, record, column uint8, offset uint16, b byte) {
		// Nexplane never writes text that is not valid UTF-8 (the hash
		// refuses it), so the chain is built from valid text; a mutation
		// may still make any column invalid.
		email, event, note = strings.ToValidUTF8(email, "?"), strings.ToValidUTF8(event, "?"), strings.ToValidUTF8(note, "?")
		chain := make([]*AuditEvent, 3)
		prev := GenesisHash
		for i := range chain {
			at := time.UnixMilli(atMS).Add(time.Duration(i) * time.Millisecond)
			e, err := NewAuditEvent(at, Actor{Type: ActorUser, ID: "7", Email: email}, event, "user", strconv.Itoa(i),
				map[string]any{"note": note, "n": i})
			if err != nil {
				t.Fatal(err)
			}
			e.ID, e.PrevHash = int64(i+1), prev
			if e.Hash, err = e.ComputeHash(); err != nil {
				t.Fatal(err)
			}
			prev = e.Hash
			chain[i] = e
		}
		v := newChainVerifier()
		for _, e := range chain {
			if err := v.next(e); err != nil {
				t.Fatalf("valid chain does not verify: %v", err)
			}
		}
		if v.n != 3 {
			t.Fatalf("verified %d records, want 3", v.n)
		}

		r := int(record) % len(chain)
		fields := auditFields(chain[r])
		c := int(column) % len(fields)
		if len(fields[c]) == 0 {
			return // no byte to change
		}
		col := []byte(fields[c])
		col[int(offset)%len(col)] = b
		fields[c] = string(col)
		mutated, ok := auditFromFields(fields)
		if !ok || slices.Equal(auditFields(mutated), auditFields(chain[r])) {
			return // not a record the store could hold, or no change at all
		}
		walk := slices.Clone(chain)
		walk[r] = mutated
		v = newChainVerifier()
		for i, e := range walk {
			err := v.next(e)
			if err == nil {
				continue
			}
			var cb *ChainBreak
			if !errors.As(err, &cb) {
				t.Fatalf("break is %T, want *ChainBreak: %v", err, err)
			}
			if i != r && i != r+1 {
				t.Fatalf("record %d changed, break reported at record %d: %v", r+1, i+1, err)
			}
			return
		}
		t.Fatalf("changing column %d of record %d to %q went unnoticed", c, r+1, fields[c])
	})
}

// TestAuditTextMustBeValidUTF8: two different invalid bytes would encode
// to the same JSON (U+FFFD), so a record holding one could be altered
// unnoticed; the hash refuses such text and verify reports the record.
func TestAuditTextMustBeValidUTF8(t *testing.T) {
	e, err := NewAuditEvent(time.UnixMilli(1767225600000), Actor{Type: ActorUser, ID: "7", Email: "a@example.com"},
		"user.login", "user", "1", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.ID, e.PrevHash = 1, GenesisHash
	if e.Hash, err = e.ComputeHash(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"user.\xfflogin", "user.\xfelogin"} {
		tampered := *e
		tampered.Event = bad
		if _, err := tampered.ComputeHash(); err == nil {
			t.Errorf("event %q: hashed, want refused", bad)
		}
		var cb *ChainBreak
		if err := newChainVerifier().next(&tampered); !errors.As(err, &cb) || cb.ID != 1 {
			t.Errorf("event %q: verify = %v, want a break at record 1", bad, err)
		}
	}
	payload := *e
	payload.Payload = []byte("{\"n\":\"\xff\"}")
	if _, err := payload.ComputeHash(); err == nil {
		t.Error("a payload that is not valid UTF-8 was hashed")
	}
}
