package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/aws/awstest"
)

func cfgJSON(t *testing.T, m map[string]any) json.RawMessage {
	t.Helper()
	base := map[string]any{"region": "eu-west-1"}
	for k, v := range m {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	return json.RawMessage(mustJSON(t, base))
}

func TestValidateConfig(t *testing.T) {
	t.Parallel()
	out, err := Driver{}.ValidateConfig(cfgJSON(t, map[string]any{"endpoint_url": "HTTPS://IAM.Example.internal:8443/", "assume_role_arn": "arn:aws:iam::123456789012:role/ops/nexplane"}))
	if err != nil {
		t.Fatal(err)
	}
	var cfg Config
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.EndpointURL != "https://iam.example.internal:8443" || cfg.RotationDays != 90 || cfg.UnusedDays != 90 || cfg.SyncInterval != "15m" {
		t.Errorf("normalised = %+v", cfg)
	}
	bad := []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"region": nil}, "region is required"},
		{map[string]any{"region": "EU-WEST-1"}, "is not an AWS region name"},
		{map[string]any{"region": "us-east"}, "is not an AWS region name"},
		{map[string]any{"endpoint_url": "ftp://x"}, "scheme must be http or https"},
		{map[string]any{"endpoint_url": "https://user:pw@x"}, "must not contain a user or password"},
		{map[string]any{"endpoint_url": "https://x/?a=b"}, "without a query"},
		{map[string]any{"endpoint_url": "https://"}, "has no host"},
		{map[string]any{"endpoint_url": "http://iam.example.internal"}, "http:// is allowed only for an endpoint on this machine (localhost, 127.0.0.0/8, ::1), not iam.example.internal"},
		{map[string]any{"endpoint_url": "http://10.1.2.3:4566"}, "not 10.1.2.3"},
		{map[string]any{"endpoint_url": "HTTP://localhost.example.org"}, "not localhost.example.org"},
		{map[string]any{"assume_role_arn": "arn:aws:iam::12:role/x"}, "is not a role ARN"},
		{map[string]any{"assume_role_arn": "arn:aws:iam::123456789012:user/x"}, "is not a role ARN"},
		{map[string]any{"rotation_days": -1}, "rotation_days must be between 1 and 3650"},
		{map[string]any{"unused_days": 4000}, "unused_days must be between"},
		{map[string]any{"sync_interval": "30s"}, "sync_interval must be between 1m"},
		{map[string]any{"sync_interval": "often"}, "is not a duration"},
		{map[string]any{"rotation_days": "90"}, `field "rotation_days" has the wrong type`},
		{map[string]any{"secret_access_key": "x"}, `unknown field "secret_access_key"`},
	}
	for _, b := range bad {
		_, err := Driver{}.ValidateConfig(cfgJSON(t, b.cfg))
		if app.ErrCode(err) != app.EINVALID || !strings.Contains(app.ErrMessage(err), b.want) {
			t.Errorf("%v: err = %v, want invalid containing %q", b.cfg, err, b.want)
		}
	}
}

// TestPlainHTTPOnlyOnLoopback: an emulator on this machine may speak plain
// HTTP; the signed requests never cross a network.
func TestPlainHTTPOnlyOnLoopback(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://localhost:4566", "http://127.0.0.1:4566", "http://127.0.0.9", "http://[::1]:4566/iam"} {
		if _, err := (Driver{}).ValidateConfig(cfgJSON(t, map[string]any{"endpoint_url": u})); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
}

func TestValidateCredentialsNeverEchoes(t *testing.T) {
	t.Parallel()
	const secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	if err := (Driver{}).ValidateCredentials([]byte(`{"access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"` + secret + `"}`)); err != nil {
		t.Fatal(err)
	}
	bad := []struct{ raw, want string }{
		{`{"access_key_id":"AKIAIOSFODNN7EXAMPLE"}`, "secret_access_key is required"},
		{`{"secret_access_key":"` + secret + `"}`, "access_key_id is required"},
		{`{"access_key_id":"` + secret + `","secret_access_key":"` + secret + `"}`, "access_key_id is not an access key id"},
		{`{"access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"` + secret + ` "}`, "secret_access_key is not a secret access key"},
		{`{"access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"` + secret + `","token":"` + secret + `"}`, `unknown field "token"`},
		{`{"access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":` + "1" + `}`, `field "secret_access_key" has the wrong type`},
		{`{"secret_access_key":"` + secret, "malformed JSON"},
	}
	for _, b := range bad {
		err := Driver{}.ValidateCredentials([]byte(b.raw))
		if app.ErrCode(err) != app.EINVALID || !strings.Contains(app.ErrMessage(err), b.want) {
			t.Errorf("%s: err = %v, want invalid containing %q", b.raw, err, b.want)
		}
		if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "wJalr")) {
			t.Errorf("error echoes the secret: %v", err)
		}
	}
	c := Credentials{AccessKeyID: "AKIAIOSFODNN7EXAMPLE", SecretAccessKey: secret}
	var sb strings.Builder
	slog.New(slog.NewTextHandler(&sb, nil)).Info("x", "creds", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v %#v %s %q", c, c, c, c), sb.String()} {
		if strings.Contains(s, secret) || strings.Contains(s, "AKIAIOSFODNN7EXAMPLE") || !strings.Contains(s, "[redacted]") {
			t.Errorf("credentials print as %q", s)
		}
	}
}

func TestConnectAndTest(t *testing.T) {
	e := newEnv(t)
	msg, err := e.conn.Test(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "Test", msg, "authenticated as "+e.srv.ConnectorUserARN, "(account 123456789012)", "via STS", e.srv.URL)

	// STS unavailable: the identity comes from IAM GetUser.
	e.srv.FailNext("GetCallerIdentity", "AccessDenied")
	msg, err = e.conn.Test(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, "Test via IAM", msg, "authenticated as "+e.srv.ConnectorUserARN, "(account 123456789012)", "via IAM GetUser", "AccessDenied")
}

func TestWrongCredentials(t *testing.T) {
	srv := awstest.Start(t)
	for name, creds := range map[string]Credentials{
		"unknown key":  {AccessKeyID: "AKIAUNKNOWNKEY000000", SecretAccessKey: srv.ConnectorSecretAccessKey},
		"wrong secret": {AccessKeyID: srv.ConnectorAccessKeyID, SecretAccessKey: "wrongwrongwrongwrongwrongwrongwrongwrong"},
	} {
		c, err := testDriver.Connect(testCtx(t), srv.ConfigJSON(), []byte(mustJSON(t, creds)))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Test(testCtx(t))
		want := map[string]string{"unknown key": "InvalidClientTokenId", "wrong secret": "SignatureDoesNotMatch"}[name]
		wantErr(t, err, app.EUNAVAILABLE, "AWS rejected the credentials ("+want+")")
		if err != nil && strings.Contains(err.Error(), creds.SecretAccessKey) {
			t.Errorf("%s: error has the secret: %v", name, err)
		}
	}
}

func TestUnreachableEndpoint(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // nothing listens there now
	c, err := testDriver.Connect(testCtx(t), cfgJSON(t, map[string]any{"region": "us-east-1", "endpoint_url": "http://" + addr}),
		[]byte(`{"access_key_id":"AKIAIOSFODNN7EXAMPLE","secret_access_key":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Test(testCtx(t))
	wantErr(t, err, app.EUNAVAILABLE, "cannot reach http://"+addr+": connection refused")

	// A cancelled context says so instead of retrying.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = c.Test(ctx)
	wantErr(t, err, app.EUNAVAILABLE, "cancelled")
}

func TestThrottlingRetried(t *testing.T) {
	e := newEnv(t)
	before := e.conn.Calls()
	e.srv.Throttle("GetCallerIdentity", maxAttempts-1)
	if _, err := e.conn.Test(testCtx(t)); err != nil {
		t.Fatalf("throttled %d times then ok: %v", maxAttempts-1, err)
	}
	if got := e.conn.Calls() - before; got != maxAttempts {
		t.Errorf("calls = %d, want %d (retries counted)", got, maxAttempts)
	}
	// Bounded: maxAttempts throttles fail with a clear rate-limit error.
	e.srv.Throttle("ListAccessKeys", maxAttempts)
	err := e.PlanErr(t, "aws.iam.access_key.create", `{"user_name":"nexplane"}`)
	wantErr(t, err, app.ERATELIMITED, "listing the access keys of IAM user nexplane", "AWS throttled the request (Throttling)", "after 5 attempts")
}
