package app

import (
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
