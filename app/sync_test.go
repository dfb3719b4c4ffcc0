package app

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestParseSyncInterval(t *testing.T) {
	for _, tc := range []struct {
		in     string
		want   time.Duration
		normal string
		err    string
	}{
		{"", 5 * time.Minute, "5m", ""},
		{" 1h30m ", 90 * time.Minute, "1h30m", ""},
		{"90s", 90 * time.Second, "1m30s", ""},
		{"1m", time.Minute, "1m", ""},
		{"168h", 168 * time.Hour, "168h", ""},
		{"60m", time.Hour, "1h", ""},
		{"59s", 0, "", "sync_interval must be between 1m and 168h, not 59s"},
		{"169h", 0, "", "sync_interval must be between 1m and 168h, not 169h"},
		{"-5m", 0, "", "sync_interval must be between 1m and 168h, not -5m"},
		{"often", 0, "", `sync_interval "often" is not a duration like 15m or 1h`},
	} {
		d, err := ParseSyncInterval(tc.in, 5*time.Minute)
		if tc.err != "" {
			if ErrCode(err) != EINVALID || ErrMessage(err) != tc.err {
				t.Errorf("%q: err = %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || d != tc.want || FormatSyncInterval(d) != tc.normal {
			t.Errorf("%q = %v (%s), %v; want %v (%s)", tc.in, d, FormatSyncInterval(d), err, tc.want, tc.normal)
		}
	}
	// The scheduler falls back to the default on a config it cannot read.
	for cfg, want := range map[string]time.Duration{`{"sync_interval":"1h"}`: time.Hour, `{}`: DefaultSyncInterval,
		`{"sync_interval":"10s"}`: DefaultSyncInterval, `[`: DefaultSyncInterval} {
		if got := syncInterval([]byte(cfg)); got != want {
			t.Errorf("syncInterval(%s) = %v, want %v", cfg, got, want)
		}
	}
}

func TestPlanReconcile(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	earlier := now.Add(-time.Hour)
	stored := func(id int64, ext, name, attrs string) Asset {
		return Asset{ID: id, ConnectorID: 7, Kind: "user", ExternalID: ext, Name: name,
			Attributes: json.RawMessage(attrs), FirstSeen: earlier, LastSeen: earlier}
	}
	gone := func(a Asset) Asset { a.GoneAt = earlier; return a }
	observed := func(ext, name string, attrs map[string]any) Observation {
		return Observation{Kind: "user", ExternalID: ext, Name: name, Attributes: attrs}
	}
	nobody := func(*Asset) bool { return false }
	volatileUses := func(string) []string { return []string{"uses"} }

	// want summarises a plan: one entry per write ("create alice appeared",
	// "update bob changed", "update carol" for no drift), the touched ids,
	// the present external ids and the counts.
	type want struct {
		writes  []string
		touch   []int64
		present []string
		result  SyncResult
	}
	tests := []struct {
		name     string
		existing []Asset
		observed []Observation
		baseline bool
		explains func(*Asset) bool
		want     want
	}{
		{
			name:     "new asset appears as drift",
			observed: []Observation{observed("u1", "alice", nil)},
			want: want{writes: []string{"create u1 appeared"}, present: []string{"u1"},
				result: SyncResult{Seen: 1, Appeared: 1, Drift: 1}},
		},
		{
			name:     "baseline records no drift",
			baseline: true,
			observed: []Observation{observed("u1", "alice", nil)},
			want: want{writes: []string{"create u1"}, present: []string{"u1"},
				result: SyncResult{Seen: 1, Appeared: 1}},
		},
		{
			name:     "explained change records no drift",
			existing: []Asset{stored(1, "u1", "alice", `{"shell":"/bin/sh"}`)},
			observed: []Observation{observed("u1", "alice", map[string]any{"shell": "/bin/bash"})},
			explains: func(a *Asset) bool { return a.ExternalID == "u1" },
			want: want{writes: []string{"update u1"}, present: []string{"u1"},
				result: SyncResult{Seen: 1, Changed: 1}},
		},
		{
			name:     "unchanged asset is only touched",
			existing: []Asset{stored(1, "u1", "alice", `{"shell":"/bin/sh"}`)},
			observed: []Observation{observed("u1", "alice", map[string]any{"shell": "/bin/sh"})},
			want:     want{touch: []int64{1}, present: []string{"u1"}, result: SyncResult{Seen: 1}},
		},
		{
			name:     "renamed asset changed",
			existing: []Asset{stored(1, "u1", "alice", `null`)},
			observed: []Observation{observed("u1", "alicia", nil)},
			want: want{writes: []string{"update u1 changed"}, present: []string{"u1"},
				result: SyncResult{Seen: 1, Changed: 1, Drift: 1}},
		},
		{
			name:     "volatile attribute moving is not a change",
			existing: []Asset{stored(1, "u1", "alice", `{"shell":"/bin/sh","uses":1}`)},
			observed: []Observation{observed("u1", "alice", map[string]any{"shell": "/bin/sh", "uses": 2})},
			want:     want{writes: []string{"update u1"}, present: []string{"u1"}, result: SyncResult{Seen: 1}},
		},
		{
			name:     "missing asset is gone",
			existing: []Asset{stored(1, "u1", "alice", `null`), gone(stored(2, "u2", "bob", `null`))},
			want:     want{writes: []string{"update u1 disappeared"}, result: SyncResult{Disappeared: 1, Drift: 1}},
		},
		{
			name:     "gone asset comes back",
			existing: []Asset{gone(stored(2, "u2", "bob", `null`))},
			observed: []Observation{observed("u2", "bob", nil)},
			want: want{writes: []string{"update u2 appeared"}, present: []string{"u2"},
				result: SyncResult{Seen: 1, Appeared: 1, Drift: 1}},
		},
		{
			name:     "an asset listed twice counts once",
			observed: []Observation{observed("u1", "alice", nil), observed("u1", "alice", nil)},
			want: want{writes: []string{"create u1 appeared"}, present: []string{"u1"},
				result: SyncResult{Seen: 2, Appeared: 1, Drift: 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			explains := tt.explains
			if explains == nil {
				explains = nobody
			}
			existing := append([]Asset(nil), tt.existing...)
			p, err := planReconcile(reconcileInput{ConnectorID: 7, Existing: existing, Observed: tt.observed,
				Baseline: tt.baseline, Explains: explains, Volatile: volatileUses, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			var got want
			for _, w := range p.Writes {
				s := "update "
				if w.Create {
					s = "create "
				}
				s += w.Asset.ExternalID
				if w.Drift != nil {
					s += " " + string(w.Drift.Change)
				}
				got.writes = append(got.writes, s)
			}
			got.touch = p.Touch
			for _, a := range p.Present {
				got.present = append(got.present, a.ExternalID)
				if !a.LastSeen.Equal(now) {
					t.Errorf("present %s last seen %v, want now", a.ExternalID, a.LastSeen)
				}
			}
			got.result = p.Result
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan = %+v\nwant   %+v", got, tt.want)
			}
			if !reflect.DeepEqual(existing, tt.existing) {
				t.Error("planReconcile changed the stored assets it was given")
			}
		})
	}
}

func TestPlanReconcileDriftRecord(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	existing := []Asset{{ID: 1, ConnectorID: 7, Kind: "user", ExternalID: "u1", Name: "alice",
		Attributes: json.RawMessage(`{"shell":"/bin/sh"}`)}}
	p, err := planReconcile(reconcileInput{ConnectorID: 7, Existing: existing,
		Observed: []Observation{{Kind: "user", ExternalID: "u1", Name: "alice", Attributes: map[string]any{"shell": "/bin/bash"}}},
		Explains: func(*Asset) bool { return false }, Volatile: func(string) []string { return nil }, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Writes) != 1 || p.Writes[0].Drift == nil {
		t.Fatalf("writes = %+v, want one with drift", p.Writes)
	}
	d := p.Writes[0].Drift
	if d.ConnectorID != 7 || d.Kind != "user" || d.ExternalID != "u1" || d.Name != "alice" || d.Change != DriftChanged ||
		string(d.Before) != `{"shell":"/bin/sh"}` || string(d.After) != `{"shell":"/bin/bash"}` || !d.DetectedAt.Equal(now) {
		t.Errorf("drift = %+v", d)
	}
	if _, err := planReconcile(reconcileInput{Observed: []Observation{{Kind: "user", ExternalID: "u2",
		Attributes: map[string]any{"bad": func() {}}}}, Explains: func(*Asset) bool { return false },
		Volatile: func(string) []string { return nil }, Now: now}); err == nil {
		t.Error("an observation whose attributes do not encode must fail the plan")
	}
}
