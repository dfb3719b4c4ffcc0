package web

import (
	"bytes"
	"encoding/json"
	"net/url"
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
