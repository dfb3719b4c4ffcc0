package app

import (
	"encoding/base64"
	"strconv"
)

// EncodeCursor makes the opaque cursor of the page that starts below id, for
// every list paged by descending id (the audit log, assets, change requests).
// The "a:" prefix dates from when only the audit log was paged; it stays so
// that cursors already handed out keep working.
func EncodeCursor(id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte("a:" + strconv.FormatInt(id, 10)))
}

// DecodeCursor reverses EncodeCursor; anything else is invalid.
func DecodeCursor(s string) (int64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 3 || string(b[:2]) != "a:" {
		return 0, Errorf(EINVALID, "cursor is not valid")
	}
	id, err := strconv.ParseInt(string(b[2:]), 10, 64)
	if err != nil || id <= 0 {
		return 0, Errorf(EINVALID, "cursor is not valid")
	}
	return id, nil
}

// pageRequest validates a page size (0 means def) and decodes an opaque
// cursor into the id the page starts below.
func pageRequest(limit, def, max int, cursor string) (want int, beforeID int64, err error) {
	if limit == 0 {
		limit = def
	}
	if limit < 1 || limit > max {
		return 0, 0, Errorf(EINVALID, "limit must be between 1 and %d", max)
	}
	if cursor != "" {
		if beforeID, err = DecodeCursor(cursor); err != nil {
			return 0, 0, err
		}
	}
	return limit, beforeID, nil
}

// pageOf trims rows fetched with one extra (newest first) to want, and
// returns the cursor of the next page when the extra row showed there is one.
func pageOf[T any](rows []T, want int, id func(*T) int64) ([]T, string) {
	if len(rows) <= want {
		return rows, ""
	}
	return rows[:want], EncodeCursor(id(&rows[want-1]))
}
