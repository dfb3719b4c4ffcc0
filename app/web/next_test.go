package web

import (
	"net/url"
	"strings"
	"testing"
)

// browserTarget resolves s as a browser would a Location header on
// https://nexplane.example/login: WHATWG parsers trim C0 controls and spaces
// at the ends, drop tabs and newlines anywhere and read `\` as `/` in http(s)
// URLs; net/url does the parsing and resolution proper.
func browserTarget(s string) (*url.URL, bool) {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	s = strings.NewReplacer("\t", "", "\n", "", "\r", "", `\`, "/").Replace(s)
	ref, err := url.Parse(s)
	if err != nil {
		return nil, false
	}
	base, _ := url.Parse("https://nexplane.example/login")
	return base.ResolveReference(ref), true
}

// sameOrigin is the oracle: does s, and s with its path percent-decoded
// once (as a proxy or a second hop might), stay on our origin?
func sameOrigin(s string) bool {
	for _, v := range []string{s, unescapePath(s)} {
		u, ok := browserTarget(v)
		if !ok || u.Scheme != "https" || u.Host != "nexplane.example" || u.User != nil {
			return false
		}
	}
	return true
}

func unescapePath(s string) string {
	i := strings.IndexAny(s, "?#")
	if i < 0 {
		i = len(s)
	}
	if d, err := url.PathUnescape(s[:i]); err == nil {
		return d + s[i:]
	}
	return s
}

func TestLocalTarget(t *testing.T) {
	tests := []struct {
		next string
		ok   bool
	}{
		// Internal paths that must keep working.
		{"/", true},
		{"/changes/3?x=1#y", true},
		{"/audit?event=user.created", true},
		{"/changes/", true},
		{"/assets?q=a%20b&page=2", true},
		{"/assets?next=//evil", true}, // the query is not where browsers look for a host
		{"/users/a%2Fb", true},
		// Scheme-relative and backslash forms.
		{"//evil.example", false},
		{"//evil.example/x", false},
		{"///evil.example", false},
		{`/\evil.example`, false},
		{`\/evil.example`, false},
		{`\\evil.example`, false},
		{`/\/evil.example`, false},
		{"/%5Cevil.example", false},
		{"/%5cevil.example", false},
		{"/%2F/evil.example", false},
		{"/%2f%2fevil.example", false},
		{"%2F%2Fevil.example", false},
		{"%2Fchanges", false},
		// Whitespace and control characters browsers strip.
		{"/\t/evil.example", false},
		{"/%09/evil.example", false},
		{"/\n/evil.example", false},
		{"/\r\n/evil.example", false},
		{"/%0d%0a//evil.example", false},
		{"/%0a/evil.example", false},
		{" //evil.example", false},
		{"\x00//evil.example", false},
		{"/\x00/evil.example", false},
		{"/ /evil.example", false},
		{"/%20/evil.example", false},
		{"/\x7f/evil.example", false},
		// Schemes.
		{"https://evil.example", false},
		{"https:evil.example", false},
		{"http:/evil.example", false},
		{"javascript:alert(1)", false},
		{"JaVaScRiPt:alert(1)", false},
		{"data:text/html,<script>alert(1)</script>", false},
		{"/javascript:alert(1)", true}, // a path segment, not a scheme
		// Userinfo and bare hosts.
		{"@evil.example", false},
		{"/@evil.example", true}, // path "/@evil.example" on our origin
		{"evil.example", false},
		{"changes/3", false},
		{"?next=//evil.example", false},
		{"#//evil.example", false},
		// Dot segments that collapse into a scheme-relative path.
		{"/.//evil.example", false},
		{"/./evil.example", false},
		{"/../evil.example", false},
		{"/x/..//evil.example", false},
		{"/%2e/%2fevil.example", false},
		{"/%2e%2e//evil.example", false},
		// Unicode look-alikes and non-ASCII.
		{"／／evil.example", false},
		{"/／evil.example", false},
		{"/\u2215\u2215evil.example", false},
		{"/\uff3cevil.example", false},
		{"/\u00a0/evil.example", false},
		{"/\u2028/evil.example", false},
		// Invalid escapes and oversize input.
		{"/%zz", false},
		{"/" + strings.Repeat("a", maxNextLen), false},
		// Loops through the login page.
		{"/login", false},
		{"/login?next=//evil.example", false},
		{"/login?next=/changes", false},
		{"/logout", false},
		{"/%6cogin?next=//evil.example", false},
		// Empty.
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.next, func(t *testing.T) {
			got := localTarget(tt.next)
			if (got != "") != tt.ok {
				t.Fatalf("localTarget(%q) = %q, want accepted=%v", tt.next, got, tt.ok)
			}
			if got != "" && got != tt.next {
				t.Fatalf("localTarget(%q) = %q, want it unchanged", tt.next, got)
			}
			if got != "" && !sameOrigin(got) {
				t.Fatalf("localTarget accepted %q but a browser leaves the site with it", tt.next)
			}
		})
	}
}

// FuzzLocalTarget: nothing accepted ever leaves the origin.
func FuzzLocalTarget(f *testing.F) {
	for _, s := range []string{"/", "/changes/3?x=1#y", "//evil", `/\evil`, "/%09/evil", "/.//evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := localTarget(s); got != "" && !sameOrigin(got) {
			t.Fatalf("accepted %q, which leaves the site", s)
		}
	})
}
