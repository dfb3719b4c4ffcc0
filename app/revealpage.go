package app

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// RevealPageTTL is how long a one-time reveal page waits to be opened:
// the console redirects to it at once, so minutes are plenty.
const RevealPageTTL = 5 * time.Minute

// RevealKind says what a reveal page shows.
type RevealKind string

// The kinds of secret the console shows on a reveal page.
const (
	RevealOperationSecret RevealKind = "operation_secret"
	RevealEnrollmentToken RevealKind = "enrollment_token"
	RevealAPIToken        RevealKind = "api_token"
	RevealRecoveryCodes   RevealKind = "recovery_codes"
)

// RevealFact is one labelled, non-secret line shown beside a secret (a
// token's name, its expiry).
type RevealFact struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// OneTimeSecret is the content of a reveal page: the secret (or list of
// codes) and the words around it. It prints as [redacted] in logs and
// format verbs; only the reveal page renders its fields.
type OneTimeSecret struct {
	Kind   RevealKind   `json:"kind"`
	Title  string       `json:"title"`
	Secret string       `json:"secret,omitempty"`
	Codes  []string     `json:"codes,omitempty"`
	Facts  []RevealFact `json:"facts,omitempty"`
	// Back is the console page the reveal page links back to.
	Back string `json:"back"`
}

// LogValue keeps the secret out of logs.
func (OneTimeSecret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Format keeps the secret out of fmt output.
func (OneTimeSecret) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte("[redacted]")) }

// RevealPage is a stored reveal page: only the SHA-256 of the id in its
// address is kept, with the user and console session it belongs to and the
// sealed OneTimeSecret.
type RevealPage struct {
	ID        string // hex SHA-256 of the id in the address
	UserID    int64
	SessionID string // the console session (Session.ID) that made it
	Sealed    []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// revealPageAD binds a sealed page to its row.
func revealPageAD(id string) string { return "reveal_page:" + id }

// hashRevealID is the stored form of the id in a reveal page's address.
func hashRevealID(id string) string {
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

// errRevealGone is the one answer for a reveal page that cannot be shown:
// already shown, expired, never existed or someone else's alike, so the
// answer tells nothing about other users' pages.
func errRevealGone() error {
	return Errorf(ENOTFOUND, "this secret was already shown or has expired")
}

// StashRevealPage seals content for a one-time reveal page of the actor's
// console session and returns the id of its address (/reveal/{id}).
// Expired pages are pruned on the way.
func (s *Service) StashRevealPage(ctx context.Context, actor Actor, sessionID string, content OneTimeSecret) (string, error) {
	var id string
	err := s.store.WithTx(ctx, func(tx Tx) error {
		var err error
		id, err = s.stashRevealPage(ctx, tx, actor, sessionID, content)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("stash reveal page: %w", err)
	}
	return id, nil
}

func (s *Service) stashRevealPage(ctx context.Context, tx Tx, actor Actor, sessionID string, content OneTimeSecret) (string, error) {
	uid := userID(actor)
	if uid == 0 || sessionID == "" {
		return "", Errorf(EFORBIDDEN, "one-time secrets are shown to console sessions only")
	}
	if s.sealer == nil {
		return "", Errorf(EINTERNAL, "reveal page: no sealer configured")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("reveal page id: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b[:])
	plain, err := json.Marshal(content)
	if err != nil {
		return "", fmt.Errorf("encode reveal page: %w", err)
	}
	defer clear(plain)
	row := &RevealPage{ID: hashRevealID(id), UserID: uid, SessionID: sessionID, CreatedAt: s.now()}
	row.ExpiresAt = row.CreatedAt.Add(RevealPageTTL)
	if row.Sealed, err = s.sealer.Seal(plain, revealPageAD(row.ID)); err != nil {
		return "", fmt.Errorf("seal reveal page: %w", err)
	}
	if _, err := tx.DeleteExpiredRevealPages(ctx, row.CreatedAt); err != nil {
		return "", err
	}
	if err := tx.CreateRevealPage(ctx, row); err != nil {
		return "", err
	}
	return id, nil
}

// TakeRevealPage returns a reveal page's content once, to the user and
// console session that made it, and erases it; every other case (shown,
// expired, another session or user, a made-up id) is the same ENOTFOUND
// and erases nothing.
func (s *Service) TakeRevealPage(ctx context.Context, actor Actor, sessionID, id string) (*OneTimeSecret, error) {
	if len(id) != 43 { // base64url of 32 bytes
		return nil, errRevealGone()
	}
	var out OneTimeSecret
	err := s.store.WithTx(ctx, func(tx Tx) error {
		p, err := tx.RevealPageByID(ctx, hashRevealID(id))
		if ErrCode(err) == ENOTFOUND {
			return errRevealGone()
		} else if err != nil {
			return err
		}
		if p.UserID != userID(actor) || p.SessionID != sessionID || !s.now().Before(p.ExpiresAt) {
			return errRevealGone()
		}
		// Deleting first makes the page single use under concurrent
		// requests: the loser's delete matches nothing.
		if err := tx.DeleteRevealPage(ctx, p.ID); err != nil {
			if ErrCode(err) == ENOTFOUND {
				return errRevealGone()
			}
			return err
		}
		plain, err := s.sealer.Open(p.Sealed, revealPageAD(p.ID))
		if err != nil {
			// Pages live minutes and rekey leaves them alone; one that
			// cannot be opened is gone, like an expired one.
			s.log.WarnContext(ctx, "reveal page unreadable", "user_id", p.UserID, "err", err)
			return errRevealGone()
		}
		defer clear(plain)
		if err := json.Unmarshal(plain, &out); err != nil {
			return fmt.Errorf("decode reveal page: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("take reveal page: %w", err)
	}
	return &out, nil
}
