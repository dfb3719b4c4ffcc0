package app

import (
	"context"
	"fmt"
)

// EventAuditRollbackAccepted records that a server started on a database
// behind (or disagreeing with) its witness because an operator said so.
const EventAuditRollbackAccepted = "audit.rollback_accepted"

// CheckWitnessHead compares the database with the newest checkpoint of a
// witness file (w, kept outside the database) with the checks VerifyAudit
// makes for witnesses, but without walking the whole chain, so that a
// server can run it at every start: w is signed by the database's key, the
// chain reaches w's seq with w's hash there (the record at that seq still
// hashes to it), and the database holds that checkpoint. It returns the
// database's head (seq 0 with GenesisHash when empty) and, when the
// database is behind or disagrees, a *ChainBreak.
func (s *Service) CheckWitnessHead(ctx context.Context, w WitnessCheckpoint) (ExpectedHead, error) {
	head := ExpectedHead{Hash: GenesisHash}
	e, err := auditHead(ctx, s.store)
	if err != nil {
		return head, err
	}
	if e != nil {
		head = ExpectedHead{Seq: e.ID, Hash: e.Hash}
	}
	key, err := s.AuditPublicKey(ctx)
	if err != nil {
		return head, fmt.Errorf("check witness: %w", err)
	}
	c := &w.Checkpoint
	source := fmt.Sprintf("witness line %d", w.Line)
	if !c.VerifySignature(key) {
		return head, &ChainBreak{Kind: BreakBadSignature, Checkpoint: c.Seq, Source: source,
			Reason: fmt.Sprintf("witness checkpoint at record %d (key %s) is not signed by key %s", c.Seq, c.KeyID, AuditKeyID(key))}
	}
	cv := chainView{s: s, head: head.Seq}
	if err := cv.outside(ctx, c, source); err != nil {
		return head, err
	}
	if c.Seq > 0 {
		// outside compared the stored hash; the record must also still
		// produce it (an edit that left the hash column alone).
		r, err := s.store.AuditByID(ctx, c.Seq)
		if err != nil {
			return head, fmt.Errorf("check witness: record %d: %w", c.Seq, err)
		}
		if h, err := r.ComputeHash(); err != nil || h != r.Hash {
			return head, recordBreak(BreakEdited, c.Seq, "hash does not match the record's contents")
		}
	}
	stored, err := s.store.ListCheckpoints(ctx, c.Seq+1, 1)
	if err != nil {
		return head, fmt.Errorf("check witness: %w", err)
	}
	if len(stored) == 0 || stored[0].Seq != c.Seq || stored[0].Hash != c.Hash {
		return head, &ChainBreak{Kind: BreakRemoved, Checkpoint: c.Seq, Source: source,
			Reason: fmt.Sprintf("the database lacks the checkpoint at record %d that %s holds: checkpoints were removed", c.Seq, source)}
	}
	return head, nil
}

// AcceptAuditRollback records that the server starts although the
// database's head db is behind or disagrees with the witness checkpoint w
// (why says how); the record itself is then checkpointed and witnessed,
// so the acceptance is as provable as anything else.
func (s *Service) AcceptAuditRollback(ctx context.Context, actor Actor, w WitnessCheckpoint, db ExpectedHead, why error) error {
	payload := map[string]any{
		"witness_seq": w.Checkpoint.Seq, "witness_hash": w.Checkpoint.Hash, "witness_at": w.Checkpoint.Line().At,
		"database_seq": db.Seq, "database_hash": db.Hash, "reason": why.Error(),
	}
	return s.store.WithTx(ctx, func(tx Tx) error {
		return s.appendAudit(ctx, tx, actor, EventAuditRollbackAccepted, "audit", "", payload)
	})
}
