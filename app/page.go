package app

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
		if beforeID, err = DecodeAuditCursor(cursor); err != nil {
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
	return rows[:want], EncodeAuditCursor(id(&rows[want-1]))
}
