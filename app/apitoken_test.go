package app

import (
	"strings"
	"testing"
	"time"
)

func TestTokenFormat(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		tok, err := NewTokenSecret()
		if err != nil {
			t.Fatal(err)
		}
		if len(tok) != 53 || !strings.HasPrefix(tok, "nxp_") || !LooksLikeAPIToken(tok) {
			t.Fatalf("token %q", tok)
		}
		if seen[tok] {
			t.Fatal("token repeated")
		}
		seen[tok] = true
		// Any one changed character breaks the checksum or the charset.
		for _, i := range []int{4, 20, 46, 52} {
			c := tok[i] + 1
			if c > 'z' {
				c = '0'
			}
			if bad := tok[:i] + string(c) + tok[i+1:]; LooksLikeAPIToken(bad) {
				t.Fatalf("changed token %q still passes", bad)
			}
		}
	}
	for _, s := range []string{"", "nxp_", "ghp_" + strings.Repeat("a", 49), "nxp_" + strings.Repeat("-", 49)} {
		if LooksLikeAPIToken(s) {
			t.Errorf("%q passes", s)
		}
	}
}

func TestRoleWithin(t *testing.T) {
	within := map[[2]Role]bool{
		{RoleViewer, RoleOperator}: true, {RoleViewer, RoleApprover}: true, {RoleOperator, RoleAdmin}: true,
		{RoleApprover, RoleAdmin}: true, {RoleAdmin, RoleAdmin}: true, {RoleOperator, RoleOperator}: true,
		{RoleOperator, RoleApprover}: false, {RoleApprover, RoleOperator}: false, {RoleAdmin, RoleOperator}: false,
		{RoleOperator, RoleViewer}: false, {Role("root"), RoleAdmin}: false,
	}
	for pair, want := range within {
		if got := RoleWithin(pair[0], pair[1]); got != want {
			t.Errorf("RoleWithin(%s, %s) = %v, want %v", pair[0], pair[1], got, want)
		}
	}
}

func TestTokenExpiry(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got, err := tokenExpiry(now, time.Time{}); err != nil || !got.Equal(now.Add(90*24*time.Hour)) {
		t.Fatalf("default = %v, %v", got, err)
	}
	if _, err := tokenExpiry(now, now); ErrCode(err) != EINVALID {
		t.Fatalf("now: %v", err)
	}
	if _, err := tokenExpiry(now, now.Add(MaxTokenLifetime+time.Millisecond)); ErrCode(err) != EINVALID {
		t.Fatalf("over a year: %v", err)
	}
	if got, err := tokenExpiry(now, now.Add(MaxTokenLifetime)); err != nil || !got.Equal(now.Add(MaxTokenLifetime)) {
		t.Fatalf("a year: %v, %v", got, err)
	}
}

func TestAuditNamesTheToken(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tok := Actor{Type: ActorUser, ID: "7", Email: "ci-bot", Role: RoleOperator, TokenID: 3, TokenName: "deploy"}
	for _, tc := range []struct {
		payload any
		want    string
	}{
		{map[string]any{"b": 1, "a": "x"}, `{"a":"x","b":1,"via_token":{"id":3,"name":"deploy"}}`},
		{nil, `{"via_token":{"id":3,"name":"deploy"}}`},
		{[]int{1, 2}, `{"payload":[1,2],"via_token":{"id":3,"name":"deploy"}}`},
		{struct {
			Z string `json:"z"`
		}{"q"}, `{"via_token":{"id":3,"name":"deploy"},"z":"q"}`},
	} {
		ev, err := NewAuditEvent(at, tok, "x.y", "t", "1", tc.payload)
		if err != nil {
			t.Fatal(err)
		}
		if string(ev.Payload) != tc.want {
			t.Errorf("payload %v: %s, want %s", tc.payload, ev.Payload, tc.want)
		}
	}
	// Without a token nothing is added.
	ev, err := NewAuditEvent(at, Actor{Type: ActorUser, ID: "7"}, "x.y", "t", "1", map[string]any{"a": 1})
	if err != nil || string(ev.Payload) != `{"a":1}` {
		t.Fatalf("payload without a token: %s %v", ev.Payload, err)
	}
}
