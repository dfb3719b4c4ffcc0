package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// AssetPage is one page of assets.
type AssetPage struct {
	Assets     []Asset
	NextCursor string
}

// ListAssets searches the inventory (every role may read assets).
func (s *Service) ListAssets(ctx context.Context, actor Actor, f AssetFilter, cursor string) (*AssetPage, error) {
	if err := actor.require(ActReadAssets); err != nil {
		return nil, err
	}
	want, before, err := pageRequest(f.Limit, 50, 500, cursor)
	if err != nil {
		return nil, err
	}
	if len(f.Text) > 200 {
		return nil, Errorf(EINVALID, "search text is longer than 200 characters")
	}
	f.Text = strings.TrimSpace(f.Text)
	f.BeforeID, f.Limit = before, want+1 // one extra tells whether another page exists
	as, err := s.store.ListAssets(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("list assets: %w", err)
	}
	page := &AssetPage{}
	page.Assets, page.NextCursor = pageOf(as, want, func(a *Asset) int64 { return a.ID })
	return page, nil
}

// AssetDetail is an asset with its findings.
type AssetDetail struct {
	Asset    *Asset
	Findings []Finding // open first
	// Revocable says whether "revoke now" applies to this asset;
	// notRevocable says why not.
	Revocable    bool
	notRevocable error
}

// GetAsset returns one asset with its findings.
func (s *Service) GetAsset(ctx context.Context, actor Actor, id int64) (*AssetDetail, error) {
	if err := actor.require(ActReadAssets); err != nil {
		return nil, err
	}
	a, err := s.store.AssetByID(ctx, id)
	if err != nil {
		return nil, err
	}
	fs, err := s.store.ListFindings(ctx, FindingFilter{AssetID: id})
	if err != nil {
		return nil, err
	}
	d := &AssetDetail{Asset: a, Findings: fs}
	_, _, _, d.notRevocable = s.revokeOperation(ctx, a)
	d.Revocable = d.notRevocable == nil
	return d, nil
}

// revokeOperation is the operation that revokes a credential asset on its
// connector; an error says why the asset cannot be revoked.
func (s *Service) revokeOperation(ctx context.Context, a *Asset) (*Connector, string, json.RawMessage, error) {
	c, err := s.store.ConnectorByID(ctx, a.ConnectorID)
	if err != nil {
		return nil, "", nil, err
	}
	return s.revokeOperationOn(c, a)
}

// revokeOperationOn is revokeOperation with the asset's connector read.
func (s *Service) revokeOperationOn(c *Connector, a *Asset) (*Connector, string, json.RawMessage, error) {
	if !a.GoneAt.IsZero() {
		return nil, "", nil, Errorf(ECONFLICT, "%s is gone from the target; nothing to revoke", a.Name)
	}
	drv, err := s.registry.Driver(c.Type)
	if err != nil {
		return nil, "", nil, err
	}
	r, ok := drv.(Revoker)
	if !ok {
		return nil, "", nil, Errorf(EINVALID, "%s assets cannot be revoked", c.Type)
	}
	opType, params, ok := r.RevokeOperation(a)
	if !ok {
		return nil, "", nil, Errorf(EINVALID, "%s is not a credential that can be revoked", a.Name)
	}
	return c, opType, params, nil
}

// ListFindings returns findings (every role may read them).
func (s *Service) ListFindings(ctx context.Context, actor Actor, f FindingFilter) ([]Finding, error) {
	if err := actor.require(ActReadAssets); err != nil {
		return nil, err
	}
	return s.store.ListFindings(ctx, f)
}

// ListDrift returns drift records (every role may read them).
func (s *Service) ListDrift(ctx context.Context, actor Actor, f DriftFilter) ([]Drift, error) {
	if err := actor.require(ActReadAssets); err != nil {
		return nil, err
	}
	if f.Limit < 0 || f.Limit > 500 {
		return nil, Errorf(EINVALID, "limit must be between 1 and 500")
	}
	return s.store.ListDrift(ctx, f)
}

// GetDrift returns one drift record.
func (s *Service) GetDrift(ctx context.Context, actor Actor, id int64) (*Drift, error) {
	if err := actor.require(ActReadAssets); err != nil {
		return nil, err
	}
	d, err := s.store.DriftByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("get drift record %d: %w", id, err)
	}
	return d, nil
}

// AcknowledgeDrift closes a drift record with a note of who looked.
func (s *Service) AcknowledgeDrift(ctx context.Context, actor Actor, id int64, comment string) (*Drift, error) {
	if err := checkAcknowledge(actor, nil); err != nil { // the store refuses an acknowledged record atomically
		return nil, err
	}
	if err := validateText("comment", comment, 0, maxCommentLen); err != nil {
		return nil, err
	}
	var out *Drift
	err := s.store.WithTx(ctx, func(tx Tx) error {
		now := s.now().UTC()
		ok, err := tx.AcknowledgeDrift(ctx, id, userID(actor), comment, now)
		if err != nil {
			return err
		}
		if !ok {
			return Errorf(ECONFLICT, "drift record %d is already acknowledged", id)
		}
		if out, err = tx.DriftByID(ctx, id); err != nil {
			return err
		}
		return s.appendAudit(ctx, tx, actor, "asset.drift_acknowledged", "asset", strconv.FormatInt(out.AssetID, 10),
			map[string]any{"drift_id": id, "comment": comment})
	})
	if err != nil {
		return nil, fmt.Errorf("acknowledge drift %d: %w", id, err)
	}
	return out, nil
}

// RevokeAsset is "revoke now" on a credential asset: it creates a change
// request with the connector's revoking operation. An admin's runs at once
// as an emergency change; an operator's is submitted and waits for one
// approval.
func (s *Service) RevokeAsset(ctx context.Context, actor Actor, assetID int64, reason string) (*ChangeRequest, error) {
	if err := actor.require(ActWriteChanges); err != nil {
		return nil, err
	}
	a, err := s.store.AssetByID(ctx, assetID)
	if err != nil {
		return nil, err
	}
	c, opType, params, err := s.revokeOperation(ctx, a)
	if err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		reason = "Revoke now"
	}
	cr, err := s.CreateChange(ctx, actor, ChangeInput{Title: "Revoke " + a.Name, ConnectorID: c.ID,
		Description: fmt.Sprintf("%s: %s %s (asset %d).", reason, a.Kind, a.Name, a.ID),
		Operations:  []OpInput{{Type: opType, Params: params}}})
	if err != nil {
		return nil, err
	}
	if cr, err = s.SubmitChange(ctx, actor, cr.ID); err != nil {
		return nil, err
	}
	if !revokesNow(actor) {
		return cr, nil // waits for one approval
	}
	return s.ExecuteChange(ctx, actor, cr.ID, ExecuteInput{Emergency: true,
		Justification: fmt.Sprintf("Revoke now by %s: %s", actor.Email, reason)})
}

// SyncState returns a connector's sync bookkeeping (ENOTFOUND before its first sync).
func (s *Service) SyncState(ctx context.Context, actor Actor, connectorID int64) (*SyncState, error) {
	if err := actor.require(ActReadAssets); err != nil {
		return nil, err
	}
	return s.store.SyncStateOf(ctx, connectorID)
}
