package app

import (
	"context"
	"fmt"
	"slices"
)

// Action names say what a user may do to one resource now. They are stable:
// the API lists the allowed ones as allowed_actions and the console draws a
// button for each.
const (
	// Change requests.
	ActionEdit             = "edit"
	ActionSubmit           = "submit"
	ActionApprove          = "approve"
	ActionReject           = "reject"
	ActionCancel           = "cancel"
	ActionExecute          = "execute"
	ActionEmergencyExecute = "emergency_execute"
	ActionResume           = "resume"
	ActionReview           = "review"
	// ActionRerunUnknown resumes and runs again, without checking the
	// target, an operation whose outcome reconciliation could not tell.
	ActionRerunUnknown = "rerun_unknown"

	// Assets: revoke submits a change request that waits for approval;
	// revoke_now runs it at once as an emergency change. At most one is
	// allowed. create_change_request is the remedy of a finding.
	ActionRevoke    = "revoke"
	ActionRevokeNow = "revoke_now"

	// Connectors; sync applies to assets too (re-read one from its target).
	ActionTest   = "test"
	ActionSync   = "sync"
	ActionDelete = "delete"

	// Drift records.
	ActionAcknowledge = "acknowledge"

	// List pages: what the actor may create or manage at all.
	ActionCreateChangeRequest   = "create_change_request"
	ActionCreateEnrollmentToken = "create_enrollment_token"
	ActionManageAgents          = "manage_agents"
	ActionManageConnectors      = "manage_connectors"
	ActionManageUsers           = "manage_users"
	ActionExportAudit           = "export_audit"
)

// Actions is what an actor may do now to one resource (or on one page):
// the allowed action names in a fixed order, and why each other one is
// refused.
type Actions struct {
	allowed []string
	refused map[string]error
}

// decideActions asks check about each name, in order; check returns the
// refusal the use case would return, nil when allowed.
func decideActions(names []string, check func(name string) error) Actions {
	a := Actions{refused: map[string]error{}}
	for _, n := range names {
		if err := check(n); err != nil {
			a.refused[n] = err
		} else {
			a.allowed = append(a.allowed, n)
		}
	}
	return a
}

// Allowed reports whether the action may be taken now.
func (a Actions) Allowed(name string) bool { return slices.Contains(a.allowed, name) }

// Err is the refusal of an action (nil when allowed), as the use case
// returns it; an action this set does not know is refused.
func (a Actions) Err(name string) error {
	if a.Allowed(name) {
		return nil
	}
	if err, ok := a.refused[name]; ok {
		return err
	}
	return Errorf(EFORBIDDEN, "%q is not something you can do here", name)
}

// Reason is the safe message of a refused action, "" when it is allowed.
func (a Actions) Reason(name string) string {
	if err := a.Err(name); err != nil {
		return ErrMessage(err)
	}
	return ""
}

// Names lists the allowed actions in a fixed order; never nil, so the API
// writes [] rather than null.
func (a Actions) Names() []string {
	return append([]string{}, a.allowed...)
}

// ---- Change requests ----

// changeActions is the order in which change request actions are listed.
var changeActions = []string{ActionEdit, ActionSubmit, ActionApprove, ActionReject, ActionCancel,
	ActionExecute, ActionEmergencyExecute, ActionResume, ActionRerunUnknown, ActionReview}

// changeRule is one action's rule: who may try it at all (checked before
// any input is read) and when it applies to a request (checked again in
// the transaction that performs it).
type changeRule struct {
	permit func(Actor) error
	when   func(actor Actor, c *ChangeRequest) error
}

func permits(act Action) func(Actor) error {
	return func(a Actor) error { return a.require(act) }
}

// changeRules is the one home of what may happen next to a change request:
// ChangeActions and every use case that moves a request ask it.
var changeRules = map[string]changeRule{
	ActionEdit: {permits(ActWriteChanges), func(_ Actor, c *ChangeRequest) error {
		if c.State != StateDraft && !CanTransition(c.State, StateDraft) {
			return errIllegalTransition(c, "edit")
		}
		return nil
	}},
	ActionSubmit: {permits(ActWriteChanges), func(_ Actor, c *ChangeRequest) error {
		if c.State != StateDraft {
			return errIllegalTransition(c, "submit")
		}
		return nil
	}},
	ActionApprove: {permits(ActApproveChanges), func(a Actor, c *ChangeRequest) error { return mayDecide(a, c, DecisionApprove) }},
	ActionReject:  {permits(ActApproveChanges), func(a Actor, c *ChangeRequest) error { return mayDecide(a, c, DecisionReject) }},
	ActionCancel: {permits(ActWriteChanges), func(_ Actor, c *ChangeRequest) error {
		if !CanTransition(c.State, StateCancelled) {
			return errIllegalTransition(c, "cancel")
		}
		return nil
	}},
	ActionExecute: {permits(ActExecuteChanges), func(_ Actor, c *ChangeRequest) error {
		if c.State != StateApproved {
			return errIllegalTransition(c, "execute")
		}
		return nil
	}},
	// An emergency skips (the rest of) the approvals: an admin may run a
	// submitted or an approved request at once.
	ActionEmergencyExecute: {func(a Actor) error {
		if err := a.require(ActExecuteChanges); err != nil {
			return err
		}
		if !a.can(ActEmergencyChange) {
			return Errorf(EFORBIDDEN, "only an admin may execute an emergency change")
		}
		return nil
	}, func(_ Actor, c *ChangeRequest) error {
		if c.State != StateSubmitted && c.State != StateApproved {
			return errIllegalTransition(c, "execute")
		}
		return nil
	}},
	ActionResume: {permits(ActExecuteChanges), func(_ Actor, c *ChangeRequest) error {
		if c.State != StateInterrupted {
			return errIllegalTransition(c, "resume")
		}
		return nil
	}},
	// Offered only when reconciliation stopped the request: running an
	// operation twice is a person's decision, never the engine's.
	ActionRerunUnknown: {permits(ActExecuteChanges), func(_ Actor, c *ChangeRequest) error {
		if c.State != StateInterrupted {
			return errIllegalTransition(c, "resume")
		}
		for i := range c.Operations {
			if c.Operations[i].Unsettled() {
				return nil
			}
		}
		return Errorf(ECONFLICT, "change request %d has no operation whose outcome is unknown; resume it", c.ID)
	}},
	ActionReview: {permits(ActApproveChanges), func(a Actor, c *ChangeRequest) error {
		if !c.NeedsReview() {
			return Errorf(ECONFLICT, "change request %d has no emergency review pending", c.ID)
		}
		if c.EmergencyBy == userID(a) {
			return Errorf(EFORBIDDEN, "the admin who ran an emergency change cannot review it")
		}
		if c.IsContributor(userID(a)) {
			return Errorf(EFORBIDDEN, "you cannot review a change request you created or edited")
		}
		return nil
	}},
}

// mayDecide is the rule for approving and rejecting: a submitted request,
// which the actor neither created nor edited in any revision (an edit makes
// its author as much the author as the creator), and not one the actor
// already approved in this revision.
func mayDecide(a Actor, c *ChangeRequest, d Decision) error {
	if c.State != StateSubmitted {
		return errIllegalTransition(c, string(d))
	}
	uid := userID(a)
	if c.IsContributor(uid) {
		return Errorf(EFORBIDDEN, "you cannot %s a change request you created or edited", d)
	}
	for _, ap := range c.Approvals {
		if ap.UserID == uid && !ap.Void && ap.Revision == c.Revision && ap.Decision == DecisionApprove {
			return Errorf(ECONFLICT, "you already approved change request %d", c.ID)
		}
	}
	return nil
}

// permitChange refuses an actor whose role may never take the action.
func permitChange(actor Actor, action string) error { return changeRules[action].permit(actor) }

// checkChange refuses the action on c when the actor may not take it now.
func checkChange(actor Actor, c *ChangeRequest, action string) error {
	r := changeRules[action]
	if err := r.permit(actor); err != nil {
		return err
	}
	return r.when(actor, c)
}

// ChangeActions says what the actor may do to c now.
func (s *Service) ChangeActions(actor Actor, c *ChangeRequest) Actions {
	return decideActions(changeActions, func(n string) error { return checkChange(actor, c, n) })
}

// ---- Assets, drift, agents, connectors ----

// revokesNow reports whether the actor's "revoke" runs at once as an
// emergency change instead of waiting for an approval.
func revokesNow(actor Actor) bool { return actor.can(ActEmergencyChange) }

// AssetActions says what the actor may do to an asset now: revoke it
// (through a change request, or at once) when it is a revocable credential,
// and sync it (re-read it from its target).
func (s *Service) AssetActions(actor Actor, d *AssetDetail) Actions {
	return decideActions([]string{ActionRevoke, ActionRevokeNow, ActionCreateChangeRequest, ActionSync}, func(n string) error {
		if n == ActionSync {
			return checkSyncAsset(actor)
		}
		if err := actor.require(ActWriteChanges); err != nil {
			return err
		}
		switch n {
		case ActionCreateChangeRequest:
			return nil
		case ActionRevoke, ActionRevokeNow:
			if !d.Revocable {
				if d.notRevocable != nil {
					return d.notRevocable
				}
				return Errorf(EINVALID, "%s is not a credential that can be revoked", d.Asset.Name)
			}
			if revokesNow(actor) != (n == ActionRevokeNow) {
				if n == ActionRevoke {
					return Errorf(ECONFLICT, "your revoke runs at once as an emergency change")
				}
				return Errorf(EFORBIDDEN, "only an admin may revoke at once; your revoke waits for an approval")
			}
		}
		return nil
	})
}

// checkSyncAsset is the rule of "sync this asset": operators and admins.
// A gone asset may be synced too: it may have come back.
func checkSyncAsset(actor Actor) error {
	if !actor.can(ActSyncAssets) {
		return Errorf(EFORBIDDEN, "only operators and admins may sync an asset")
	}
	return nil
}

// DriftActions says whether the actor may acknowledge a drift record.
func (s *Service) DriftActions(actor Actor, d *Drift) Actions {
	return decideActions([]string{ActionAcknowledge}, func(string) error { return checkAcknowledge(actor, d) })
}

func checkAcknowledge(actor Actor, d *Drift) error {
	if err := actor.require(ActAcknowledgeDrift); err != nil {
		return err
	}
	if d != nil && d.AcknowledgedBy != 0 {
		return Errorf(ECONFLICT, "drift record %d is already acknowledged", d.ID)
	}
	return nil
}

// AgentActions says whether the actor may revoke an agent (revoking a
// revoked agent changes nothing, so it is not offered).
func (s *Service) AgentActions(actor Actor, ag *Agent) Actions {
	return decideActions([]string{ActionRevoke}, func(string) error {
		if err := actor.require(ActManageAgents); err != nil {
			return err
		}
		if ag.Revoked {
			return Errorf(ECONFLICT, "agent %s is already revoked", ag.Hostname)
		}
		return nil
	})
}

// connectorActions is the order in which connector actions are listed.
var connectorActions = []string{ActionEdit, ActionTest, ActionSync, ActionDelete}

// ConnectorActions says what the actor may do to a connector: everything,
// for those who manage connectors.
func (s *Service) ConnectorActions(actor Actor, _ *Connector) Actions {
	return decideActions(connectorActions, func(string) error { return actor.require(ActManageConnector) })
}

// ListActions says what the actor may create or manage at all: the
// buttons of the list pages and the navigation.
func (s *Service) ListActions(actor Actor) Actions {
	need := map[string]Action{
		ActionCreateChangeRequest:   ActWriteChanges,
		ActionCreateEnrollmentToken: ActManageAgents,
		ActionManageAgents:          ActManageAgents,
		ActionManageConnectors:      ActManageConnector,
		ActionManageUsers:           ActManageUsers,
	}
	return decideActions([]string{ActionCreateChangeRequest, ActionCreateEnrollmentToken, ActionManageAgents, ActionManageConnectors,
		ActionManageUsers, ActionAcknowledge, ActionExportAudit}, func(n string) error {
		switch n {
		case ActionAcknowledge:
			return checkAcknowledge(actor, nil) // any open record
		case ActionExportAudit:
			return checkExportAudit(actor)
		}
		return actor.require(need[n])
	})
}

// AssetsActions is AssetActions for each of a page of assets (whose
// findings do not matter to it), reading each connector once.
func (s *Service) AssetsActions(ctx context.Context, actor Actor, as []Asset) ([]Actions, error) {
	conns := map[int64]*Connector{}
	out := make([]Actions, 0, len(as))
	for i := range as {
		a := &as[i]
		c, ok := conns[a.ConnectorID]
		if !ok {
			var err error
			if c, err = s.store.ConnectorByID(ctx, a.ConnectorID); err != nil && ErrCode(err) != ENOTFOUND {
				return nil, fmt.Errorf("actions of asset %d: %w", a.ID, err)
			}
			conns[a.ConnectorID] = c
		}
		d := &AssetDetail{Asset: a, notRevocable: Errorf(ENOTFOUND, "the connector of %s no longer exists", a.Name)}
		if c != nil {
			_, _, _, d.notRevocable = s.revokeOperationOn(c, a)
		}
		d.Revocable = d.notRevocable == nil
		out = append(out, s.AssetActions(actor, d))
	}
	return out, nil
}
