package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestPermissionTableMatchesArchitecture(t *testing.T) {
	// Rows of ARCHITECTURE.md's table: admin, operator, approver, viewer.
	want := map[Action][4]bool{
		ActReadChanges:     {true, true, true, true},
		ActReadAssets:      {true, true, true, true},
		ActReadAudit:       {true, true, true, true},
		ActWriteChanges:    {true, true, false, false},
		ActExecuteChanges:  {true, true, false, false},
		ActApproveChanges:  {true, false, true, false},
		ActEmergencyChange: {true, false, false, false},
		ActManageConnector: {true, false, false, false},
		ActManageAgents:    {true, false, false, false},
		ActManageUsers:     {true, false, false, false},
		ActManageSettings:  {true, false, false, false},
		// Not in ARCHITECTURE.md's table: whoever works changes may close drift.
		ActAcknowledgeDrift: {true, true, true, false},
		// Whoever executes changes may re-read an asset they touched.
		ActSyncAssets: {true, true, false, false},
	}
	for act, row := range want {
		for i, role := range Roles {
			if got := Can(role, act); got != row[i] {
				t.Errorf("Can(%s, %s) = %v, want %v", role, act, got, row[i])
			}
		}
	}
	if Can("root", ActReadAudit) || Can("", ActReadAudit) {
		t.Error("unknown roles must be denied everything")
	}
	if (Actor{Type: ActorAgent}).can(ActReadAudit) {
		t.Error("agents must not act as users")
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range []string{"admin", "operator", "approver", "viewer"} {
		if _, err := ParseRole(r); err != nil {
			t.Errorf("ParseRole(%q): %v", r, err)
		}
	}
	for _, r := range []string{"", "Admin", "root", "admin "} {
		if _, err := ParseRole(r); ErrCode(err) != EINVALID {
			t.Errorf("ParseRole(%q) = %v, want invalid", r, err)
		}
	}
}

func TestNormalizeEmail(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"a@example.com", "a@example.com", true},
		{"  Alice@Example.COM ", "alice@example.com", true},
		{"ops@localhost", "ops@localhost", true},
		{"", "", false},
		{"no-at-sign", "", false},
		{"Bob <bob@example.com>", "", false},
		{"a@b", "", false},
		{"a@@example.com", "", false},
		{strings.Repeat("x", 250) + "@example.com", "", false},
	}
	for _, c := range cases {
		got, err := NormalizeEmail(c.in)
		if c.ok != (err == nil) || got != c.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func TestAuditHashCoversEveryField(t *testing.T) {
	at := time.Date(2026, 11, 29, 12, 0, 0, 123e6, time.UTC)
	base, err := NewAuditEvent(at, Actor{Type: ActorUser, ID: "1", Email: "a@example.com"}, "user.created", "user", "2", map[string]any{"role": "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	base.ID, base.PrevHash = 7, GenesisHash
	h0, err := base.ComputeHash()
	if err != nil {
		t.Fatal(err)
	}
	mutations := map[string]func(e *AuditEvent){
		"id":            func(e *AuditEvent) { e.ID++ },
		"at":            func(e *AuditEvent) { e.At = e.At.Add(time.Millisecond) },
		"actor type":    func(e *AuditEvent) { e.ActorType = ActorSystem },
		"actor id":      func(e *AuditEvent) { e.ActorID = "2" },
		"actor email":   func(e *AuditEvent) { e.ActorEmail = "b@example.com" },
		"event":         func(e *AuditEvent) { e.Event = "user.deleted" },
		"resource type": func(e *AuditEvent) { e.ResourceType = "agent" },
		"resource id":   func(e *AuditEvent) { e.ResourceID = "3" },
		"payload":       func(e *AuditEvent) { e.Payload = json.RawMessage(`{"role":"admin"}`) },
		"prev hash":     func(e *AuditEvent) { e.PrevHash = strings.Repeat("1", 64) },
	}
	for name, mut := range mutations {
		e := *base
		mut(&e)
		h, err := e.ComputeHash()
		if err != nil {
			t.Fatal(err)
		}
		if h == h0 {
			t.Errorf("changing %s does not change the hash", name)
		}
	}
	if _, err := (&AuditEvent{Payload: json.RawMessage(`{not json`)}).ComputeHash(); err == nil {
		t.Error("invalid payload JSON must fail to hash, not panic or pass")
	}
}

func TestVerifyLink(t *testing.T) {
	mk := func(id int64, prev string) *AuditEvent {
		e, _ := NewAuditEvent(time.Unix(1700000000, 0), SystemActor("t"), "x.y", "r", "1", nil)
		e.ID, e.PrevHash = id, prev
		e.Hash, _ = e.ComputeHash()
		return e
	}
	first := mk(1, GenesisHash)
	if err := verifyLink(first, 0, GenesisHash); err != nil {
		t.Errorf("good first record: %v", err)
	}
	second := mk(2, first.Hash)
	if err := verifyLink(second, 1, first.Hash); err != nil {
		t.Errorf("good second record: %v", err)
	}
	if err := verifyLink(second, 0, GenesisHash); err == nil {
		t.Error("gap not detected")
	}
	if err := verifyLink(mk(2, GenesisHash), 1, first.Hash); err == nil {
		t.Error("wrong prev_hash not detected")
	}
	edited := *second
	edited.Event = "x.z"
	if err := verifyLink(&edited, 1, first.Hash); err == nil {
		t.Error("edited record not detected")
	}
}

func TestCursorRoundTrip(t *testing.T) {
	for _, id := range []int64{1, 42, 1 << 40} {
		got, err := DecodeCursor(EncodeCursor(id))
		if err != nil || got != id {
			t.Errorf("round trip %d: %d %v", id, got, err)
		}
	}
	for _, bad := range []string{"", "!!", "YTo=", "YTow", "YjoxMA", "YTotMQ"} {
		if _, err := DecodeCursor(bad); ErrCode(err) != EINVALID {
			t.Errorf("DecodeCursor(%q) = %v, want invalid", bad, err)
		}
	}
}

func TestSessionExpiry(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &Session{CreatedAt: t0, LastSeenAt: t0}
	if s.Expired(t0.Add(29 * time.Minute)) {
		t.Error("expired before the idle timeout")
	}
	if !s.Expired(t0.Add(31 * time.Minute)) {
		t.Error("not expired after 31 idle minutes")
	}
	s.LastSeenAt = t0.Add(12*time.Hour - time.Minute)
	if s.Expired(t0.Add(12*time.Hour - time.Second)) {
		t.Error("expired before the absolute timeout")
	}
	if !s.Expired(t0.Add(12*time.Hour + time.Second)) {
		t.Error("active session outlived the 12 h absolute timeout")
	}
}

func TestSetupGate(t *testing.T) {
	t0 := time.Now()
	g, err := NewSetupGate(t0)
	if err != nil {
		t.Fatal(err)
	}
	tok := g.Token()
	if len(tok) < 32 {
		t.Errorf("setup token too short: %q", tok)
	}
	if !g.Valid(tok, t0.Add(59*time.Minute)) {
		t.Error("valid token refused")
	}
	if g.Valid(tok, t0.Add(61*time.Minute)) {
		t.Error("token valid after an hour")
	}
	if g.Valid(tok+"x", t0) || g.Valid("", t0) {
		t.Error("wrong token accepted")
	}
	g.Close()
	if g.Valid(tok, t0) {
		t.Error("closed gate accepted its token")
	}
	var nilGate *SetupGate
	if nilGate.Valid(tok, t0) {
		t.Error("nil gate accepted a token")
	}
}
