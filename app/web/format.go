package web

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"time"
)

// formatOpt formats a time, or "" when unset.
func formatOpt(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return formatTime(t)
}

// nextPageURL is path with the non-empty filters of q named in keep and
// the next page's cursor.
func nextPageURL(path string, q url.Values, keep []string, cursor string) string {
	next := url.Values{}
	for _, k := range keep {
		if v := q.Get(k); v != "" {
			next.Set(k, v)
		}
	}
	next.Set("cursor", cursor)
	return path + "?" + next.Encode()
}

// prettyJSON indents a payload for reading; anything unparsable is shown
// as stored.
func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// formatTime shows times in UTC, to the second, like the audit filters.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// isoTime is a time as the timeline shows it: UTC, ISO 8601, to the second.
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// relativeTime is a short hint of how long before now t was.
func relativeTime(now, t time.Time) string {
	d := now.Sub(t)
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit + " ago"
		}
		return strconv.FormatInt(n, 10) + " " + unit + "s ago"
	}
	switch {
	case d < time.Minute: // a clock skewed a little ahead lands here too
		return "just now"
	case d < time.Hour:
		return plural(int64(d/time.Minute), "minute")
	case d < 24*time.Hour:
		return plural(int64(d/time.Hour), "hour")
	default:
		return plural(int64(d/(24*time.Hour)), "day")
	}
}

// formatDuration shows a run's length: milliseconds below a second, then
// to the second (1m5s).
func formatDuration(d time.Duration) string {
	if d < time.Second {
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	}
	return d.Round(time.Second).String()
}
