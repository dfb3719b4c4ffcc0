package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sync interval bounds. At least a minute: a full sync costs several calls
// per account on the target. At most a week: the inventory must not go stale.
const (
	DefaultSyncInterval = 15 * time.Minute // when a connector's config names none
	MinSyncInterval     = time.Minute
	MaxSyncInterval     = 7 * 24 * time.Hour
)

// ParseSyncInterval reads a connector's sync_interval setting, a Go duration
// between MinSyncInterval and MaxSyncInterval; empty means def. Every driver
// uses it, so the rule and its messages are the same for all.
func ParseSyncInterval(s string, def time.Duration) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, Errorf(EINVALID, "sync_interval %q is not a duration like 15m or 1h", s)
	}
	if d < MinSyncInterval || d > MaxSyncInterval {
		return 0, Errorf(EINVALID, "sync_interval must be between 1m and 168h, not %s", s)
	}
	return d, nil
}

// FormatSyncInterval is the normal form of a sync interval in a stored
// config: "15m", "1h30m", not time.Duration's "15m0s".
func FormatSyncInterval(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// SyncIntervalField is the sync_interval setting of a connector type whose
// syncs run every def unless configured otherwise.
func SyncIntervalField(def time.Duration) ConfigField {
	return ConfigField{Name: "sync_interval", Label: "Sync interval", Type: ConfigText, Default: FormatSyncInterval(def),
		Help: "How often the inventory is read: a duration between 1m and 168h, e.g. 15m or 1h."}
}

// SyncResult summarises one sync of a connector.
type SyncResult struct {
	Seen             int
	Appeared         int
	Changed          int
	Disappeared      int
	Drift            int // changes no executed change request explains
	FindingsOpen     int
	FindingsResolved int
}

// syncInterval reads "sync_interval" from a connector's config; drivers
// store it in normal form, so a bad value only comes from outside the
// application and falls back to the default.
func syncInterval(config json.RawMessage) time.Duration {
	var c struct {
		SyncInterval string `json:"sync_interval"`
	}
	if json.Unmarshal(config, &c) != nil {
		return DefaultSyncInterval
	}
	d, err := ParseSyncInterval(c.SyncInterval, DefaultSyncInterval)
	if err != nil {
		return DefaultSyncInterval
	}
	return d
}

func assetKey(kind, externalID string) string { return kind + "\x00" + externalID }

// explainer knows which assets change requests touched since the last sync.
type explainer struct {
	byID   map[string]bool // kind + external id
	byName map[string]bool // kind + name
}

func (x explainer) explains(a *Asset) bool {
	return x.byID[assetKey(a.Kind, a.ExternalID)] || x.byName[assetKey(a.Kind, a.Name)]
}

// refsOf collects what an executed operation says it affected: the refs
// stored with its result, and those its type declares.
func (s *Service) refsOf(connectorType string, op *ChangeOperation) []AssetRef {
	var refs []AssetRef
	if len(op.Result) > 0 {
		var res struct {
			Affects []AssetRef `json:"affects"`
		}
		if json.Unmarshal(op.Result, &res) == nil {
			refs = append(refs, res.Affects...)
		}
	}
	if typed, err := s.registry.DecodeOperation(connectorType, op.Type, op.Params); err == nil {
		if a, ok := typed.(AffectsAssets); ok {
			refs = append(refs, a.Affects()...)
		}
	}
	return refs
}

func (s *Service) explainerFor(ctx context.Context, c *Connector, since time.Time) (explainer, error) {
	x := explainer{byID: map[string]bool{}, byName: map[string]bool{}}
	changes, err := s.store.ChangesTouchingSince(ctx, c.ID, since)
	if err != nil {
		return x, err
	}
	for _, ch := range changes {
		for i := range ch.Operations {
			op := &ch.Operations[i]
			if op.Status == OpPending || op.Status == OpSkipped {
				continue
			}
			for _, r := range s.refsOf(c.Type, op) {
				x.byID[assetKey(r.Kind, r.ExternalID)] = true
				x.byName[assetKey(r.Kind, r.ExternalID)] = true
			}
		}
	}
	return x, nil
}

// SyncConnector reads the connector's target, updates the asset inventory,
// records drift nobody explained, and re-runs the hygiene rules — all in one
// transaction with its audit records. Admins may run it on demand; the
// scheduler runs it as the system.
func (s *Service) SyncConnector(ctx context.Context, actor Actor, id int64) (*SyncResult, error) {
	if err := actor.require(ActManageConnector); err != nil {
		return nil, err
	}
	if _, busy := s.syncing.LoadOrStore(id, struct{}{}); busy {
		return nil, Errorf(ECONFLICT, "connector %d is already syncing", id)
	}
	defer s.syncing.Delete(id)
	unlock, err := s.lockSyncs(ctx, id)
	if err != nil {
		return nil, err
	}
	defer unlock()

	c, err := s.store.ConnectorByID(ctx, id)
	if err != nil {
		return nil, err
	}
	started := s.now().UTC()
	prev, err := s.store.SyncStateOf(ctx, id)
	if err != nil && ErrCode(err) != ENOTFOUND {
		return nil, err
	}
	firstSync := prev == nil || prev.LastFinished.IsZero()
	obs, invErr := s.inventory(ctx, c)
	if invErr != nil {
		s.recordFailedSync(ctx, c, prev, started, invErr)
		return nil, invErr
	}
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
		existing, err := tx.ConnectorAssets(ctx, id)
		if err != nil {
			return err
		}
		now := s.now().UTC()
		plan, err := planReconcile(reconcileInput{ConnectorID: id, Existing: existing, Observed: obs,
			Baseline: firstSync, Explains: x.explains, Volatile: s.volatileOf(c.Type), Now: now})
		if err != nil {
			return err
		}
		res = &plan.Result
		return s.applyReconcile(ctx, tx, actor, c, plan, started, now, firstSync)
	})
	if err != nil {
		return nil, fmt.Errorf("sync connector %d: %w", id, err)
	}
	return res, nil
}

// lockSyncs waits until no other sync of the connector runs in this
// process, and holds it off until unlock. A full and a targeted sync must
// not interleave: the full one would write what it read before the
// targeted one (an asset just created would look gone), or both would
// insert the same new asset.
func (s *Service) lockSyncs(ctx context.Context, connectorID int64) (unlock func(), err error) {
	v, _ := s.syncLocks.LoadOrStore(connectorID, make(chan struct{}, 1))
	slot := v.(chan struct{})
	select {
	case slot <- struct{}{}:
		return func() { <-slot }, nil
	case <-ctx.Done():
		return nil, Wrap(EUNAVAILABLE, ctx.Err(), "connector %d: gave up waiting for its running sync to finish", connectorID)
	}
}

// recordFailedSync keeps the last good sync's numbers and notes the error,
// so the console shows why the inventory is stale; failing to record it
// must not hide the sync's own error.
func (s *Service) recordFailedSync(ctx context.Context, c *Connector, prev *SyncState, started time.Time, syncErr error) {
	st := &SyncState{ConnectorID: c.ID, LastStarted: started, LastError: ErrMessage(syncErr),
		NextDue: started.Add(syncInterval(c.Config))}
	if prev != nil {
		st.LastFinished, st.Assets = prev.LastFinished, prev.Assets
	}
	if err := s.store.WithTx(ctx, func(tx Tx) error { return tx.PutSyncState(ctx, st) }); err != nil {
		s.log.WarnContext(ctx, "record failed sync", "connector_id", c.ID, "err", err)
	}
}

// reconcileInput is everything planReconcile decides from.
type reconcileInput struct {
	ConnectorID int64
	Existing    []Asset       // the connector's stored assets, gone ones included
	Observed    []Observation // what the target holds now
	// Baseline is the first sync: everything it finds is the starting
	// point, not drift.
	Baseline bool
	// Explains reports whether an executed change request touched a.
	Explains func(a *Asset) bool
	// Volatile lists the attributes of a kind that move on their own
	// (usage counters); a change only there is not a change.
	Volatile func(kind string) []string
	Now      time.Time
}

// assetWrite is one asset to insert or update, with the drift it records.
type assetWrite struct {
	Asset  *Asset
	Create bool
	Drift  *Drift // nil when the change is explained or the sync is a baseline; AssetID is set when applied
}

// reconcilePlan is what a sync writes. It is computed from the stored assets
// and the observations alone, so the rules of what counts as a change are
// testable without a store.
type reconcilePlan struct {
	Writes  []assetWrite // observed assets first, in observation order, then those gone
	Touch   []int64      // unchanged assets: only last_seen moves
	Present []*Asset     // every observed asset, in observation order; new ones get their id when written
	Result  SyncResult   // every count but the findings'
}

// planReconcile matches observations to stored assets by kind and external
// id: new and returning assets appeared, a different name or attributes
// (beyond volatile ones) changed, and stored assets not observed are gone.
func planReconcile(in reconcileInput) (*reconcilePlan, error) {
	byKey := make(map[string]*Asset, len(in.Existing))
	for i := range in.Existing {
		byKey[assetKey(in.Existing[i].Kind, in.Existing[i].ExternalID)] = &in.Existing[i]
	}
	p := &reconcilePlan{Result: SyncResult{Seen: len(in.Observed)}}
	write := func(a *Asset, create bool, change DriftChange, before, after json.RawMessage) {
		w := assetWrite{Asset: a, Create: create}
		if change != "" && !in.Baseline && !in.Explains(a) {
			p.Result.Drift++
			w.Drift = &Drift{ConnectorID: in.ConnectorID, Kind: a.Kind, ExternalID: a.ExternalID, Name: a.Name,
				Change: change, Before: before, After: after, DetectedAt: in.Now}
		}
		p.Writes = append(p.Writes, w)
	}
	seen := make(map[string]bool, len(in.Observed))
	for _, o := range in.Observed {
		k := assetKey(o.Kind, o.ExternalID)
		if seen[k] {
			continue // a target listing one thing twice
		}
		seen[k] = true
		attrs, err := json.Marshal(o.Attributes)
		if err != nil {
			return nil, fmt.Errorf("encode attributes of %s %s: %w", o.Kind, o.ExternalID, err)
		}
		var a *Asset
		if stored := byKey[k]; stored != nil {
			cp := *stored
			a = &cp
		}
		switch {
		case a == nil:
			a = &Asset{ConnectorID: in.ConnectorID, Kind: o.Kind, ExternalID: o.ExternalID, Name: o.Name,
				Attributes: attrs, FirstSeen: in.Now, LastSeen: in.Now}
			p.Result.Appeared++
			write(a, true, DriftAppeared, json.RawMessage("null"), attrs)
		case !a.GoneAt.IsZero(): // back after it was gone
			a.Name, a.Attributes, a.LastSeen, a.GoneAt = o.Name, attrs, in.Now, time.Time{}
			p.Result.Appeared++
			write(a, false, DriftAppeared, json.RawMessage("null"), attrs)
		case a.Name == o.Name && !bytes.Equal(a.Attributes, attrs) && sameExcept(a.Attributes, attrs, in.Volatile(o.Kind)):
			a.Attributes, a.LastSeen = attrs, in.Now // only usage moved: not a change
			write(a, false, "", nil, nil)
		case !bytes.Equal(a.Attributes, attrs) || a.Name != o.Name:
			before := a.Attributes
			a.Name, a.Attributes, a.LastSeen = o.Name, attrs, in.Now
			p.Result.Changed++
			write(a, false, DriftChanged, before, attrs)
		default:
			a.LastSeen = in.Now
			p.Touch = append(p.Touch, a.ID)
		}
		p.Present = append(p.Present, a)
	}
	for _, stored := range in.Existing {
		if stored.GoneAt.IsZero() && !seen[assetKey(stored.Kind, stored.ExternalID)] {
			a := stored
			a.GoneAt = in.Now
			p.Result.Disappeared++
			write(&a, false, DriftDisappeared, a.Attributes, json.RawMessage("null"))
		}
	}
	return p, nil
}

// applyReconcile writes a plan with its drift and audit records, re-runs
// the hygiene rules over the present assets and records the sync.
func (s *Service) applyReconcile(ctx context.Context, tx Tx, actor Actor, c *Connector, p *reconcilePlan, started, now time.Time, baseline bool) error {
	if err := s.writeReconcile(ctx, tx, p, now); err != nil {
		return err
	}
	present := make([]Asset, len(p.Present))
	for i, a := range p.Present {
		present[i] = *a
	}
	res := &p.Result
	if err := s.evaluateFindings(ctx, tx, c, present, nil, now, res); err != nil {
		return err
	}
	st := &SyncState{ConnectorID: c.ID, LastStarted: started, LastFinished: now, Assets: len(present),
		NextDue: now.Add(syncInterval(c.Config))}
	if err := tx.PutSyncState(ctx, st); err != nil {
		return err
	}
	return s.appendAudit(ctx, tx, actor, "connector.synced", "connector", strconv.FormatInt(c.ID, 10),
		map[string]any{"seen": res.Seen, "appeared": res.Appeared, "changed": res.Changed, "disappeared": res.Disappeared,
			"drift": res.Drift, "findings_open": res.FindingsOpen, "findings_resolved": res.FindingsResolved, "baseline": baseline})
}

// writeReconcile writes a plan's assets and drift (with its audit records);
// full and targeted syncs share it.
func (s *Service) writeReconcile(ctx context.Context, tx Tx, p *reconcilePlan, now time.Time) error {
	for _, w := range p.Writes {
		var err error
		if w.Create {
			err = tx.CreateAsset(ctx, w.Asset)
		} else {
			err = tx.UpdateAsset(ctx, w.Asset)
		}
		if err != nil {
			return err
		}
		if w.Drift != nil {
			if err := s.recordDrift(ctx, tx, w.Asset, w.Drift); err != nil {
				return err
			}
		}
	}
	return tx.TouchAssets(ctx, p.Touch, now)
}

// recordDrift stores d for the written asset a, with its audit record.
func (s *Service) recordDrift(ctx context.Context, tx Tx, a *Asset, d *Drift) error {
	d.AssetID = a.ID
	if err := tx.CreateDrift(ctx, d); err != nil {
		return err
	}
	return s.appendAudit(ctx, tx, SystemActor("sync"), "asset.drift_detected", "asset", strconv.FormatInt(a.ID, 10),
		map[string]any{"connector_id": d.ConnectorID, "drift_id": d.ID, "kind": a.Kind, "external_id": a.ExternalID,
			"name": a.Name, "change": d.Change, "before": d.Before, "after": d.After})
}

func (s *Service) inventory(ctx context.Context, c *Connector) ([]Observation, error) {
	conn, err := s.openConnector(ctx, c)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	inv, ok := conn.(InventoryConn)
	if !ok {
		return nil, Errorf(EINVALID, "a %s connector has no inventory to sync", c.Type)
	}
	obs, err := inv.Inventory(ctx)
	if err != nil {
		return nil, Errorf(EUNAVAILABLE, "sync %q: %s", c.Name, safeMessage(err))
	}
	return obs, nil
}

// evaluateFindings runs the driver's hygiene rules over the present assets,
// keeps still-firing findings open and resolves the rest. A scope (asset
// ids, nil for all) limits both to those assets: the rules still see every
// present asset, since a verdict may depend on the others (a user's keys).
func (s *Service) evaluateFindings(ctx context.Context, tx Tx, c *Connector, present []Asset, scope []int64, now time.Time, res *SyncResult) error {
	d, err := s.registry.Driver(c.Type)
	if err != nil {
		return err
	}
	inScope := make(map[int64]bool, len(scope))
	for _, id := range scope {
		inScope[id] = true
	}
	var keep []int64
	if rules, ok := d.(HygieneRules); ok {
		for _, fd := range rules.Findings(c.Config, present, now) {
			if scope != nil && !inScope[fd.AssetID] {
				continue
			}
			f := &Finding{AssetID: fd.AssetID, ConnectorID: c.ID, Rule: fd.Rule, Severity: fd.Severity, Message: fd.Message,
				RemedyType: fd.RemedyType, RemedyParams: fd.RemedyParams, FirstSeen: now, LastSeen: now}
			if err := tx.UpsertFinding(ctx, f); err != nil {
				return err
			}
			keep = append(keep, f.ID)
		}
	}
	var resolved int64
	if scope == nil {
		resolved, err = tx.ResolveFindings(ctx, c.ID, keep, now)
	} else {
		resolved, err = tx.ResolveAssetFindings(ctx, scope, keep, now)
	}
	if err != nil {
		return err
	}
	res.FindingsOpen, res.FindingsResolved = len(keep), int(resolved)
	return nil
}

// sameExcept reports whether two attribute objects are equal once the
// volatile keys are left out.
func sameExcept(a, b json.RawMessage, volatile []string) bool {
	if len(volatile) == 0 {
		return false
	}
	var ma, mb map[string]json.RawMessage
	if json.Unmarshal(a, &ma) != nil || json.Unmarshal(b, &mb) != nil {
		return false
	}
	for _, k := range volatile {
		delete(ma, k)
		delete(mb, k)
	}
	if len(ma) != len(mb) {
		return false
	}
	for k, va := range ma {
		if vb, ok := mb[k]; !ok || !bytes.Equal(va, vb) {
			return false
		}
	}
	return true
}
