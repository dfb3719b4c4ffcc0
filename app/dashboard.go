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
	return d, nil
}

// awaitingApproval lists the submitted requests the actor may approve now,
// by the rule ApproveChange enforces, newest first.
func (s *Service) awaitingApproval(ctx context.Context, actor Actor) ([]ChangeRequest, error) {
	var out []ChangeRequest
	f := ChangeFilter{State: StateSubmitted, Limit: 100}
	for read := 0; read < dashboardApprovalScan && len(out) < DashboardRows; {
		cs, err := s.store.ListChangeRequests(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("dashboard: %w", err)
		}
		for i := range cs {
			if len(out) < DashboardRows && checkChange(actor, &cs[i], ActionApprove) == nil {
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
