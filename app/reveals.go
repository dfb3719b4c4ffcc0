package app

import (
	"context"
	"fmt"
)

// RevealSecret returns, once, a secret an operation produced (a generated
// password) to the user who created the request, and erases it.
func (s *Service) RevealSecret(ctx context.Context, actor Actor, changeID, operationID int64) ([]byte, error) {
	if err := actor.require(ActReadChanges); err != nil {
		return nil, err
	}
	var plain []byte
	err := s.store.WithTx(ctx, func(tx Tx) error {
		var err error
		plain, err = s.revealSecret(ctx, tx, actor, changeID, operationID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reveal secret of change request %d: %w", changeID, err)
	}
	return plain, nil
}

// StashOperationSecret moves an operation's secret, once, onto a reveal
// page of the actor's console session (see StashRevealPage) and returns
// the page's id: page is its content with Secret filled in here. Taking
// the secret and stashing it are one transaction, so a failure loses
// neither.
func (s *Service) StashOperationSecret(ctx context.Context, actor Actor, sessionID string, changeID, operationID int64, page OneTimeSecret) (string, error) {
	if err := actor.require(ActReadChanges); err != nil {
		return "", err
	}
	var id string
	err := s.store.WithTx(ctx, func(tx Tx) error {
		plain, err := s.revealSecret(ctx, tx, actor, changeID, operationID)
		if err != nil {
			return err
		}
		defer clear(plain)
		page.Kind, page.Secret = RevealOperationSecret, string(plain)
		id, err = s.stashRevealPage(ctx, tx, actor, sessionID, page)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("reveal secret of change request %d: %w", changeID, err)
	}
	return id, nil
}

func (s *Service) revealSecret(ctx context.Context, tx Tx, actor Actor, changeID, operationID int64) ([]byte, error) {
	r, err := tx.RevealByOperation(ctx, operationID)
	if err != nil {
		return nil, err
	}
	if r.ChangeRequestID != changeID {
		return nil, Errorf(ENOTFOUND, "nothing to reveal")
	}
	if r.UserID != userID(actor) {
		return nil, Errorf(EFORBIDDEN, "only the requester of change request %d may see this secret", changeID)
	}
	if !s.now().Before(r.ExpiresAt) {
		return nil, Errorf(ENOTFOUND, "nothing to reveal")
	}
	plain, err := s.sealer.Open(r.Sealed, RevealAD(r.ChangeRequestID, r.OperationID))
	if err != nil {
		return nil, fmt.Errorf("open reveal: %w", err)
	}
	if err := tx.DeleteReveal(ctx, r.ID); err != nil {
		clear(plain)
		return nil, err
	}
	if err := s.appendAudit(ctx, tx, actor, "change.secret_revealed", "change_request", idString(changeID),
		map[string]any{"operation_id": operationID}); err != nil {
		clear(plain)
		return nil, err
	}
	return plain, nil
}

// PendingReveals lists the operations whose secret the actor may still see.
func (s *Service) PendingReveals(ctx context.Context, actor Actor, changeID int64) ([]Reveal, error) {
	if err := actor.require(ActReadChanges); err != nil {
		return nil, err
	}
	rs, err := s.store.RevealsForChange(ctx, changeID)
	if err != nil {
		return nil, err
	}
	out := rs[:0]
	now := s.now()
	for _, r := range rs {
		if r.UserID == userID(actor) && now.Before(r.ExpiresAt) {
			r.Sealed = nil
			out = append(out, r)
		}
	}
	return out, nil
}

// PurgeExpiredReveals erases one-time secrets nobody viewed within RevealTTL.
func (s *Service) PurgeExpiredReveals(ctx context.Context) (int64, error) {
	var n int64
	err := s.store.WithTx(ctx, func(tx Tx) error {
		var err error
		n, err = tx.DeleteExpiredReveals(ctx, s.now())
		if err != nil || n == 0 {
			return err
		}
		return s.appendAudit(ctx, tx, SystemActor("server"), "change.secrets_expired", "change_request", "",
			map[string]any{"erased": n})
	})
	if err != nil {
		return 0, fmt.Errorf("purge expired reveals: %w", err)
	}
	return n, nil
}
