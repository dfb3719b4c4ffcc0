package app

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// SyncAsset is "sync this asset": it re-reads one asset from its target and
// applies what it finds exactly as a full sync would for that asset (its
// attributes, drift nobody explained, its findings), leaving every other
// asset and the connector's sync state alone. A target that cannot be
// reached is EUNAVAILABLE.
func (s *Service) SyncAsset(ctx context.Context, actor Actor, id int64) (*SyncResult, error) {
	if err := checkSyncAsset(actor); err != nil {
		return nil, err
	}
	a, err := s.store.AssetByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("sync asset %d: %w", id, err)
	}
	c, err := s.store.ConnectorByID(ctx, a.ConnectorID)
	if err != nil {
		return nil, fmt.Errorf("sync asset %d: %w", id, err)
	}
	return s.syncAssets(ctx, actor, c, []AssetRef{{Kind: a.Kind, ExternalID: a.ExternalID}}, nil)
}

// SyncChangeAssets is the targeted sync the engine runs after a change
// request succeeded: it re-reads the assets its operations touched
// (created, changed and deleted ones) so the inventory shows them at once
// rather than at the next full sync. A request that did not succeed is left
// alone. Its error never changes the request's outcome: the caller logs it and the
// next full sync catches up.
func (s *Service) SyncChangeAssets(ctx context.Context, changeID int64) error {
	ch, err := s.store.ChangeRequestByID(ctx, changeID)
	if err != nil {
		return fmt.Errorf("assets of change request %d: %w", changeID, err)
	}
	if ch.State != StateSucceeded {
		return nil
	}
	c, err := s.store.ConnectorByID(ctx, ch.ConnectorID)
	if err != nil {
		return fmt.Errorf("assets of change request %d: %w", changeID, err)
	}
	var refs []AssetRef
	for i := range ch.Operations {
		op := &ch.Operations[i]
		if op.Status == OpSucceeded {
			refs = append(refs, s.refsOf(c.Type, op)...)
		}
	}
	if len(refs) == 0 {
		return nil
	}
	_, err = s.syncAssets(ctx, SystemActor("engine"), c, refs, map[string]any{"change_id": changeID})
	return err
}

// syncAssets reads the assets refs name from c's target and applies them
// with the full sync's own planning and writing, scoped to those assets:
// the stored assets the refs (or the observations) name are the whole
// "existing" set, so one of them not observed is gone.
func (s *Service) syncAssets(ctx context.Context, actor Actor, c *Connector, refs []AssetRef, payload map[string]any) (*SyncResult, error) {
	unlock, err := s.lockSyncs(ctx, c.ID)
	if err != nil {
		return nil, err
	}
	defer unlock()

	obs, err := s.readAssets(ctx, c, refs)
	if err != nil {
		return nil, err
	}
	prev, err := s.store.SyncStateOf(ctx, c.ID)
	if err != nil && ErrCode(err) != ENOTFOUND {
		return nil, err
	}
	firstSync := prev == nil || prev.LastFinished.IsZero()
	since := time.Time{}
	if !firstSync {
		since = prev.LastStarted
	}
	x, err := s.explainerFor(ctx, c, since)
	if err != nil {
		return nil, err
	}
	var res *SyncResult
	err = s.store.WithTx(ctx, func(tx Tx) error {
		all, err := tx.ConnectorAssets(ctx, c.ID)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		plan, err := planReconcile(reconcileInput{ConnectorID: c.ID, Existing: assetsNamed(all, refs, obs), Observed: obs,
			Baseline: firstSync, Explains: x.explains, Volatile: s.volatileOf(c.Type), Now: now})
		if err != nil {
			return err
		}
		if err := s.writeReconcile(ctx, tx, plan, now); err != nil {
			return err
		}
		scope := []int64{}
		for _, a := range plan.Present {
			scope = append(scope, a.ID)
		}
		for _, w := range plan.Writes {
			if !w.Asset.GoneAt.IsZero() {
				scope = append(scope, w.Asset.ID)
			}
		}
		// The rules judge the synced assets among all present ones, read
		// again now that this sync wrote its part.
		if all, err = tx.ConnectorAssets(ctx, c.ID); err != nil {
			return err
		}
		present := all[:0]
		for _, a := range all {
			if a.GoneAt.IsZero() {
				present = append(present, a)
			}
		}
		res = &plan.Result
		if err := s.evaluateFindings(ctx, tx, c, present, scope, now, res); err != nil {
			return err
		}
		if payload == nil {
			payload = map[string]any{}
		}
		payload["asset_ids"], payload["seen"], payload["appeared"], payload["changed"] = scope, res.Seen, res.Appeared, res.Changed
		payload["disappeared"], payload["drift"], payload["findings_open"], payload["findings_resolved"] = res.Disappeared, res.Drift,
			res.FindingsOpen, res.FindingsResolved
		return s.appendAudit(ctx, tx, actor, "connector.assets_synced", "connector", strconv.FormatInt(c.ID, 10), payload)
	})
	if err != nil {
		return nil, fmt.Errorf("sync assets of connector %d: %w", c.ID, err)
	}
	return res, nil
}

// readAssets asks c's target for the assets refs name, keeping only the
// observations they name (a driver's extra answer must not touch other
// assets).
func (s *Service) readAssets(ctx context.Context, c *Connector, refs []AssetRef) ([]Observation, error) {
	conn, err := s.openConnector(ctx, c)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	r, ok := conn.(AssetReader)
	if !ok {
		return nil, Errorf(EINVALID, "a %s connector cannot read single assets; sync the whole connector", c.Type)
	}
	obs, err := r.ReadAssets(ctx, refs)
	if err != nil {
		return nil, Errorf(EUNAVAILABLE, "sync assets of %q: %s", c.Name, safeMessage(err))
	}
	return PickObservations(obs, refs), nil
}

// assetsNamed is the part of a connector's stored assets a targeted sync
// decides about: those refs name (by external id or name) and those the
// target's answer names.
func assetsNamed(all []Asset, refs []AssetRef, obs []Observation) []Asset {
	named := make(map[string]bool, len(refs)+len(obs))
	for _, r := range refs {
		named[assetKey(r.Kind, r.ExternalID)] = true
	}
	observed := make(map[string]bool, len(obs))
	for _, o := range obs {
		observed[assetKey(o.Kind, o.ExternalID)] = true
	}
	var out []Asset
	for _, a := range all {
		k := assetKey(a.Kind, a.ExternalID)
		if named[k] || observed[k] || named[assetKey(a.Kind, a.Name)] {
			out = append(out, a)
		}
	}
	return out
}

// volatileOf is the driver's volatile attributes of a kind (none when the
// driver declares none).
func (s *Service) volatileOf(connectorType string) func(kind string) []string {
	if d, err := s.registry.Driver(connectorType); err == nil {
		if v, ok := d.(VolatileAttributes); ok {
			return v.Volatile
		}
	}
	return func(string) []string { return nil }
}
