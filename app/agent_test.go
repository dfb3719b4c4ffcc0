package app_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/internal/testkit"
	"github.com/nexplane/nexplane/store/storetest"
)

func TestValidateLabels(t *testing.T) {
	ok := map[string]string{"env": "prod", "a": "", "team.web_1-x": "Ünïcode value", strings.Repeat("k", 63): strings.Repeat("v", 128)}
	if err := app.ValidateLabels(ok); err != nil {
		t.Errorf("valid labels refused: %v", err)
	}
	for _, bad := range []map[string]string{
		{"": "x"}, {"Env": "x"}, {"-env": "x"}, {"a b": "x"}, {strings.Repeat("k", 64): "x"},
		{"env": strings.Repeat("v", 129)}, {"env": "a\tb"}, {"env": "\x00"}, {"env": string([]byte{0xff})},
	} {
		if err := app.ValidateLabels(bad); app.ErrCode(err) != app.EINVALID {
			t.Errorf("labels %q: %v, want invalid", bad, err)
		}
	}
}

func TestAgentStatus(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		a    app.Agent
		want string
	}{
		{app.Agent{}, app.AgentOffline},
		{app.Agent{LastSeen: now.Add(-44 * time.Second)}, app.AgentOnline},
		{app.Agent{LastSeen: now.Add(-46 * time.Second)}, app.AgentOffline},
		{app.Agent{LastSeen: now, Revoked: true}, app.AgentRevoked},
	} {
		if got := tc.a.Status(now); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.a, got, tc.want)
		}
	}
}

func newAgentService(t *testing.T) *app.Service {
	t.Helper()
	return testkit.NewService(t, testkit.Options{Agents: true}).Service
}

func TestCreateEnrollmentTokenRules(t *testing.T) {
	svc := newAgentService(t)
	ctx := context.Background()
	viewer := app.Actor{Type: app.ActorUser, ID: "9", Role: app.RoleViewer}
	if _, _, err := svc.CreateEnrollmentToken(ctx, viewer, nil, 0); app.ErrCode(err) != app.EFORBIDDEN {
		t.Errorf("viewer: %v", err)
	}
	admin := app.Actor{Type: app.ActorUser, ID: "1", Role: app.RoleAdmin}
	for _, ttl := range []time.Duration{time.Minute, 24 * time.Hour} {
		if _, _, err := svc.CreateEnrollmentToken(ctx, admin, nil, ttl); err != nil {
			t.Errorf("ttl %v: %v", ttl, err)
		}
	}
	for _, ttl := range []time.Duration{-time.Hour, time.Second, 59 * time.Second, 24*time.Hour + time.Millisecond} {
		if _, _, err := svc.CreateEnrollmentToken(ctx, admin, nil, ttl); app.ErrCode(err) != app.EINVALID {
			t.Errorf("ttl %v: %v, want invalid", ttl, err)
		}
	}
	tok, et, err := svc.CreateEnrollmentToken(ctx, admin, map[string]string{"env": "prod"}, 0)
	if err != nil || !strings.HasPrefix(tok, "nxe_") || len(tok) < 40 || et.TokenHash != app.HashEnrollmentToken(tok) ||
		et.ExpiresAt.Sub(et.CreatedAt) != time.Hour || et.CreatedBy != "1" {
		t.Errorf("token %q %+v %v", tok, et, err)
	}
	// Without a CA, enrollment is unavailable, not broken.
	bare := app.NewService(app.Config{Store: storetest.MustOpenSQLite(t)})
	if _, _, err := bare.CreateEnrollmentToken(ctx, admin, nil, 0); app.ErrCode(err) != app.EUNAVAILABLE {
		t.Errorf("no CA: %v", err)
	}
}

func TestEnrollRacesGetOneAgent(t *testing.T) {
	svc := newAgentService(t)
	ctx := context.Background()
	tok, _, err := svc.CreateEnrollmentToken(ctx, app.SystemActor("t"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "x"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 6 {
		wg.Go(func() {
			_, err := svc.Enroll(ctx, tok, csr, "h")
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else if app.ErrCode(err) != app.EUNAUTHORIZED {
				t.Errorf("enroll: %v", err)
			}
		})
	}
	wg.Wait()
	agents, err := svc.ListAgents(ctx, app.SystemActor("t"))
	if wins != 1 || err != nil || len(agents) != 1 {
		t.Fatalf("%d enrollments won, %d agents (%v); want 1", wins, len(agents), err)
	}
	// A heartbeat with an oversized version is refused; a normal one lands.
	id := agents[0].ID
	if err := svc.RecordHeartbeat(ctx, id, ops.Heartbeat{Facts: ops.Facts{AgentVersion: strings.Repeat("v", 65)}}); app.ErrCode(err) != app.EINVALID {
		t.Errorf("long version: %v", err)
	}
	if err := svc.RecordHeartbeat(ctx, id, ops.Heartbeat{Facts: ops.Facts{AgentVersion: "1"}}); err != nil {
		t.Fatal(err)
	}
	a, _ := svc.GetAgent(ctx, app.SystemActor("t"), id)
	if string(a.Users) != "[]" || a.Version != "1" {
		t.Errorf("after heartbeat %+v", a)
	}
}
