package httpx

import "net/http"

// BaseURL is the public base URL for links the server hands out
// (invitations, reset links), derived from the request: https when it
// arrived over TLS, and its Host. There is no public-URL setting for the
// console yet; the admin who asks for a link sees it built from the address
// they reached the server at.
func BaseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}
