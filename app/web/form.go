package web

import (
	"net/http"
	"strconv"
)

// parseForm reads a small form body; false means a 400 was sent.
func (h *handler) parseForm(w http.ResponseWriter, r *http.Request, a *sessionUser) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.renderStatus(w, r, a, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return false
	}
	return true
}

// pathID reads the numeric {id} path value; false means a 404 saying there
// is no such what was sent.
func (h *handler) pathID(w http.ResponseWriter, r *http.Request, a *sessionUser, what string) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		h.renderStatus(w, r, a, http.StatusNotFound, "Not found", "There is no such "+what+".")
		return 0, false
	}
	return id, true
}
