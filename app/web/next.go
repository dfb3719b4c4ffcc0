package web

import (
	"net/url"
	"strings"
)

// maxNextLen bounds the remembered target; longer ones are not worth keeping.
const maxNextLen = 2048

// localTarget returns next when it is a plain same-origin path (with optional
// query and fragment) to send the browser to after login, and "" otherwise.
// Every redirect to a user-supplied target goes through it.
//
// It is strict rather than clever, because browsers are lenient: they strip
// tabs and newlines, treat `\` as `/`, read `//host` and `/\host` as
// scheme-relative and resolve dot segments, so a path that looks local to a
// server can leave the site in a browser. Hence only printable ASCII, no
// backslash, a single leading slash, no empty or dot path segments, and the
// same rules for the path once percent-decoded (a proxy or a later hop may
// decode it). /login and /logout are refused so the login page cannot loop.
func localTarget(next string) string {
	if next == "" || len(next) > maxNextLen || !plainPath(next) {
		return ""
	}
	p, _, _ := strings.Cut(next, "#")
	p, _, _ = strings.Cut(p, "?")
	decoded, err := url.PathUnescape(p)
	if err != nil || !plainPath(decoded) || !cleanSegments(decoded) {
		return ""
	}
	if decoded == "/login" || decoded == "/logout" {
		return ""
	}
	// The last word goes to a real URL parser: whatever the checks above
	// let through must resolve to a path on our own origin.
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/") {
		return ""
	}
	return next
}

// plainPath: printable ASCII only (no controls, spaces or non-ASCII look-alike
// slashes), no backslash, starting with exactly one slash.
func plainPath(s string) bool {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// cleanSegments: no empty ("//") or dot ("." / "..") segments in the path,
// which browsers and proxies collapse; a trailing slash is fine.
func cleanSegments(p string) bool {
	segs := strings.Split(p[1:], "/")
	for i, seg := range segs {
		if (seg == "" && i != len(segs)-1) || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}
