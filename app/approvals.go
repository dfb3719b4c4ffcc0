package app

import (
	"context"
	"fmt"
	"strings"
)

// ApprovalTally is what the approvals of a change request are worth now.
type ApprovalTally struct {
	Valid    int    // distinct approvers whose approval still counts
	Required int    // the connector's required_approvals as it is now
	Hash     string // ContentHash of the request as it is now
}

// Enough reports whether the request may run without an emergency.
func (t ApprovalTally) Enough() bool { return t.Valid >= t.Required }

// Shortfall says why the request may not run, "" when it may.
func (t ApprovalTally) Shortfall() string {
	if t.Enough() {
		return ""
	}
	return fmt.Sprintf("it has %d valid approval(s) of the %d its connector requires now", t.Valid, t.Required)
}

// TallyApprovals computes from scratch which approvals of c count now: an
// approval of the current revision and content hash (so of the operations
// and connector version its approver saw), not voided, by a user who is
// still enabled, still holds a role that may approve, and never created or
// edited any revision. Approving, executing and the engine all ask it, so
// an approval that stopped counting never lets a request run.
func TallyApprovals(ctx context.Context, q Queries, c *ChangeRequest, conn *Connector) (ApprovalTally, error) {
	t := ApprovalTally{Required: conn.RequiredApprovals, Hash: ContentHash(c, conn)}
	seen := map[int64]bool{}
	for _, a := range c.Approvals {
		if a.Decision != DecisionApprove || a.Void || a.Revision != c.Revision || a.ContentHash != t.Hash ||
			seen[a.UserID] || c.IsContributor(a.UserID) {
			continue
		}
		u, err := q.UserByID(ctx, a.UserID)
		if ErrCode(err) == ENOTFOUND {
			continue
		}
		if err != nil {
			return ApprovalTally{}, fmt.Errorf("approver %d of change request %d: %w", a.UserID, c.ID, err)
		}
		if u.Disabled || !Can(u.Role, ActApproveChanges) {
			continue
		}
		seen[a.UserID] = true
	}
	t.Valid = len(seen)
	return t, nil
}

// boundFields are the changed connector fields an approval binds (through
// the connector's version): config, credentials and approval policy.
func boundFields(changed []string) []string {
	var out []string
	for _, f := range changed {
		if f == "config" || f == "credentials" || f == "approval_policy" {
			out = append(out, f)
		}
	}
	return out
}

// voidConnectorApprovals voids the approvals of the connector's submitted
// and approved requests, in the transaction of the connector change: an
// approver approved running against the connector as it was, not as it is.
// Each request returns to submitted with an audit record saying why.
func (s *Service) voidConnectorApprovals(ctx context.Context, tx Tx, actor Actor, conn *Connector, changed []string) error {
	ids, err := tx.ChangesAwaitingExecution(ctx, conn.ID)
	if err != nil {
		return err
	}
	reason := fmt.Sprintf("connector %q changed (%s)", conn.Name, strings.Join(changed, ", "))
	for _, id := range ids {
		if err := tx.LockChangeRequest(ctx, id); err != nil {
			return err
		}
		c, err := tx.ChangeRequestByID(ctx, id)
		if err != nil {
			return err
		}
		voided := 0
		for i := range c.Approvals {
			if !c.Approvals[i].Void {
				c.Approvals[i].Void = true
				voided++
			}
		}
		if voided == 0 && c.State == StateSubmitted {
			continue // nothing to void: its approvers will see the connector as it is
		}
		if err := tx.VoidApprovals(ctx, id); err != nil {
			return err
		}
		from := c.State
		c.State, c.UpdatedAt = StateSubmitted, s.now().UTC()
		if err := tx.UpdateChangeRequest(ctx, c); err != nil {
			return err
		}
		if err := s.appendAudit(ctx, tx, actor, "change.approvals_voided", "change_request", idString(id),
			map[string]any{"reason": reason, "connector_version": conn.Version, "approvals_voided": voided,
				"from": from, "to": c.State}); err != nil {
			return err
		}
	}
	return nil
}
