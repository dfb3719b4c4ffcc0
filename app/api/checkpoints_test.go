package api_test

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/nexplane/nexplane/app"
)

// TestCheckpointEndpoints: the public key and the checkpoints (paged, newest
// first, in the witness line format) are published to audit readers.
func TestCheckpointEndpoints(t *testing.T) {
	e := newTestEnv(t)
	e.mkUser("admin@example.com", app.RoleAdmin)
	tok := e.login("admin@example.com")
	if status, body := e.do("GET", "/api/v1/audit/checkpoints/key", tok, nil); status != http.StatusNotFound {
		t.Errorf("key before the first start: %d %v, want 404", status, body)
	}
	if status, _ := e.do("GET", "/api/v1/audit/checkpoints", "", nil); status != http.StatusUnauthorized {
		t.Errorf("checkpoints without a token: %d, want 401", status)
	}
	ctx := t.Context()
	signer, _, err := e.svc.LoadOrCreateAuditSigner(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e.mkUser("b@example.com", app.RoleViewer)
	if _, err := e.svc.WriteCheckpoint(ctx, signer); err != nil {
		t.Fatal(err)
	}

	status, body := e.do("GET", "/api/v1/audit/checkpoints/key", tok, nil)
	raw, _ := base64.StdEncoding.DecodeString(body["public_key"].(string))
	if status != http.StatusOK || body["algorithm"] != "ed25519" || body["key_id"] != signer.KeyID() ||
		!ed25519.PublicKey(raw).Equal(signer.PublicKey()) {
		t.Fatalf("key: %d %v", status, body)
	}

	status, body = e.do("GET", "/api/v1/audit/checkpoints?limit=1", tok, nil)
	cs, _ := body["checkpoints"].([]any)
	if status != http.StatusOK || len(cs) != 1 || body["next_cursor"] == "" {
		t.Fatalf("first page: %d %v", status, body)
	}
	line, _ := json.Marshal(cs[0])
	c, err := app.ParseCheckpointLine(line)
	if err != nil || !c.VerifySignature(raw) || c.Seq == 0 {
		t.Fatalf("newest checkpoint %s: %v", line, err)
	}
	status, body = e.do("GET", "/api/v1/audit/checkpoints?limit=1&cursor="+body["next_cursor"].(string), tok, nil)
	// The key's own first checkpoint (of the head then) ends the list.
	if cs, _ := body["checkpoints"].([]any); status != http.StatusOK || len(cs) != 1 || body["next_cursor"] != "" ||
		cs[0].(map[string]any)["seq"].(float64) >= float64(c.Seq) {
		t.Fatalf("second page: %d %v", status, body)
	}
	if status, _ := e.do("GET", "/api/v1/audit/checkpoints?limit=0", tok, nil); status != http.StatusBadRequest {
		t.Errorf("limit=0: %d, want 400", status)
	}
}
