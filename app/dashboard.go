package app

import (
	"cmp"
	"context"
	"fmt"
	"slices"
)

// DashboardRows is how many rows a dashboard card lists.
const DashboardRows = 10

// dashboardApprovalScan bounds how many submitted requests the dashboard
// reads to find those the actor may approve.
const dashboardApprovalScan = 200

// AssetFinding is a finding with the name of its asset.
type AssetFinding struct {
	Finding
	AssetName string
}

// Dashboard is the landing page of one actor: what waits for them, what
// ran, and the state of the inventory.
type Dashboard struct {
	// MayApprove says whether the actor approves change requests at all;
	// AwaitingApproval lists those they may approve now.
	MayApprove       bool
	AwaitingApproval []ChangeRequest
	RecentlyExecuted []ChangeRequest // succeeded or failed, latest first
	NeedsReview      []ChangeRequest // emergency changes awaiting review
	// OpenFindings counts the open findings by severity; MostSevere are
	// the first DashboardRows of them.
	OpenFindings map[Severity]int
	MostSevere   []AssetFinding
	OpenDrift    []Drift
	MoreDrift    bool // more open drift than listed
	// Agents counts agents by Agent.Status.
	Agents map[string]int
	// Actions are the list-page actions (acknowledge drift, ...).
	Actions Actions

	// MayWork says whether the actor writes change requests (operators,
	// admins); the four lists below are theirs to act on, newest first.
	MayWork bool
	// MyDrafts are the actor's drafts.
	MyDrafts []ChangeRequest
	// MyWaiting are the actor's requests waiting for approval.
	MyWaiting []ChangeRequest
	// ReadyToExecute are approved requests the actor may execute now.
	ReadyToExecute []ChangeRequest
	// MyFailed are the actor's requests that failed.
	MyFailed []ChangeRequest

	// GettingStarted is the checklist of a new install; nil once every
	// step is done.
	GettingStarted *GettingStarted
}

// SetupProgress counts what a working install has.
type SetupProgress struct {
	Users          int // people, not service accounts
	Connectors     int
	ChangeRequests int
}

// GettingStarted is the short checklist an empty install shows: create
// users (someone besides the first admin), add a connector, make the first
// change request. Each Can* says whether the actor may take that step.
type GettingStarted struct {
	UsersDone, ConnectorDone, ChangeDone bool
	CanUsers, CanConnector, CanChange    bool
}

// Dashboard reads the actor's landing page.
func (s *Service) Dashboard(ctx context.Context, actor Actor) (*Dashboard, error) {
	if err := actor.require(ActReadChanges); err != nil {
		return nil, err
	}
	if err := actor.require(ActReadAssets); err != nil {
		return nil, err
	}
	d := &Dashboard{MayApprove: permitChange(actor, ActionApprove) == nil, Actions: s.ListActions(actor)}
	if d.MayApprove {
		var err error
		if d.AwaitingApproval, err = s.awaitingApproval(ctx, actor); err != nil {
			return nil, err
		}
	}
	done, err := s.store.ListChangeRequests(ctx, ChangeFilter{State: StateSucceeded, Limit: DashboardRows})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	failed, err := s.store.ListChangeRequests(ctx, ChangeFilter{State: StateFailed, Limit: DashboardRows})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	done = append(done, failed...)
	slices.SortFunc(done, func(x, y ChangeRequest) int {
		if c := y.FinishedAt.Compare(x.FinishedAt); c != 0 {
			return c
		}
		return cmp.Compare(y.ID, x.ID)
	})
	d.RecentlyExecuted = done[:min(len(done), DashboardRows)]
	if d.NeedsReview, err = s.store.ListChangeRequests(ctx, ChangeFilter{NeedsReview: true, Limit: DashboardRows}); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	if d.OpenFindings, err = s.store.CountOpenFindings(ctx); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	if d.MostSevere, err = s.store.MostSevereOpenFindings(ctx, DashboardRows); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	drift, err := s.store.ListDrift(ctx, DriftFilter{OpenOnly: true, Limit: DashboardRows + 1})
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	d.MoreDrift = len(drift) > DashboardRows
	d.OpenDrift = drift[:min(len(drift), DashboardRows)]
	if d.Agents, err = s.store.CountAgentsByStatus(ctx, s.now().Add(-AgentOnlineWindow)); err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	if err := s.dashboardWork(ctx, actor, d); err != nil {
		return nil, err
	}
	p, err := s.store.CountSetupProgress(ctx)
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	d.GettingStarted = gettingStarted(p, d.Actions)
	return d, nil
}

// gettingStarted is the checklist for an install with progress p, or nil
// when every step is done.
func gettingStarted(p SetupProgress, acts Actions) *GettingStarted {
	g := &GettingStarted{UsersDone: p.Users > 1, ConnectorDone: p.Connectors > 0, ChangeDone: p.ChangeRequests > 0,
		CanUsers: acts.Allowed(ActionManageUsers), CanConnector: acts.Allowed(ActionManageConnectors),
		CanChange: acts.Allowed(ActionCreateChangeRequest)}
	if g.UsersDone && g.ConnectorDone && g.ChangeDone {
		return nil
	}
	return g
}

// dashboardWork fills the lists of someone who writes change requests:
// their drafts, their requests waiting for approval, their failed ones, and
// the approved requests they may execute now (by the rule ExecuteChange
// enforces).
func (s *Service) dashboardWork(ctx context.Context, actor Actor, d *Dashboard) error {
	uid := userID(actor)
	d.MayWork = actor.Type == ActorUser && uid != 0 && d.Actions.Allowed(ActionCreateChangeRequest)
	if !d.MayWork {
		return nil
	}
	var err error
	for _, l := range []struct {
		state ChangeState
		out   *[]ChangeRequest
	}{{StateDraft, &d.MyDrafts}, {StateSubmitted, &d.MyWaiting}, {StateFailed, &d.MyFailed}} {
		if *l.out, err = s.store.ListChangeRequests(ctx, ChangeFilter{State: l.state, CreatedBy: uid, Limit: DashboardRows}); err != nil {
			return fmt.Errorf("dashboard: %w", err)
		}
	}
	if d.ReadyToExecute, err = s.changesAllowing(ctx, actor, StateApproved, ActionExecute); err != nil {
		return err
	}
	return nil
}

// awaitingApproval lists the submitted requests the actor may approve now,
// by the rule ApproveChange enforces, newest first.
func (s *Service) awaitingApproval(ctx context.Context, actor Actor) ([]ChangeRequest, error) {
	return s.changesAllowing(ctx, actor, StateSubmitted, ActionApprove)
}

// changesAllowing lists up to DashboardRows requests in state on which the
// actor may take action now, newest first, reading at most
// dashboardApprovalScan of them.
func (s *Service) changesAllowing(ctx context.Context, actor Actor, state ChangeState, action string) ([]ChangeRequest, error) {
	var out []ChangeRequest
	f := ChangeFilter{State: state, Limit: 100}
	for read := 0; read < dashboardApprovalScan && len(out) < DashboardRows; {
		cs, err := s.store.ListChangeRequests(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("dashboard: %w", err)
		}
		for i := range cs {
			if len(out) < DashboardRows && checkChange(actor, &cs[i], action) == nil {
				out = append(out, cs[i])
			}
		}
		if len(cs) < f.Limit {
			break
		}
		read += len(cs)
		f.BeforeID = cs[len(cs)-1].ID
	}
	return out, nil
}
