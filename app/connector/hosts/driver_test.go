package hosts_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/hosts"
)

func TestValidateConfig(t *testing.T) {
	drv := hosts.NewDriver(nil, nil, nil)
	got, err := drv.ValidateConfig(json.RawMessage(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"labels":{},"timeout":"60s","ssh_key_max_age_days":365,"sync_interval":"5m"}`; string(got) != want {
		t.Errorf("normal form of {} = %s, want %s", got, want)
	}
	got, err = drv.ValidateConfig(json.RawMessage(`{"labels":{"env":"prod"},"timeout":" 2m ","ssh_key_max_age_days":90,"sync_interval":"1h"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"labels":{"env":"prod"},"timeout":"2m","ssh_key_max_age_days":90,"sync_interval":"1h"}`; string(got) != want {
		t.Errorf("normal form = %s, want %s", got, want)
	}

	for _, tc := range []struct{ config, want string }{
		{`{"timeout":"4s"}`, "between 5s and 10m"},
		{`{"timeout":"11m"}`, "between 5s and 10m"},
		{`{"timeout":"soon"}`, "not a duration"},
		{`{"timeout":60}`, `field "timeout" has the wrong type`},
		{`{"ssh_key_max_age_days":0}`, "between 1 and 3650"},
		{`{"ssh_key_max_age_days":4000}`, "between 1 and 3650"},
		{`{"sync_interval":"30s"}`, "between 1m and 168h"},
		{`{"labels":{"Env":"prod"}}`, "label key"},
		{`{"labels":["env"]}`, `field "labels" has the wrong type`},
		{`{"url":"https://x"}`, `unknown field "url"`},
		{`{"token":"s3cret"}`, `unknown field "token"`},
		{`{} {}`, "single JSON object"},
		{`[`, "malformed JSON"},
	} {
		_, err := drv.ValidateConfig(json.RawMessage(tc.config))
		if app.ErrCode(err) != app.EINVALID || !strings.Contains(app.ErrMessage(err), tc.want) {
			t.Errorf("config %s: err = %v, want invalid containing %q", tc.config, err, tc.want)
		}
	}
}

func TestValidateCredentials(t *testing.T) {
	drv := hosts.NewDriver(nil, nil, nil)
	for _, ok := range []string{"", "  ", "{}", " { } ", "null"} {
		if err := drv.ValidateCredentials([]byte(ok)); err != nil {
			t.Errorf("credentials %q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{`{"password":"hunter2"}`, `"hunter2"`, `[]`, `{`, `{"token":""}`} {
		err := drv.ValidateCredentials([]byte(bad))
		if app.ErrCode(err) != app.EINVALID || !strings.Contains(err.Error(), "take no credentials") {
			t.Errorf("credentials %s: err = %v", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error quotes the secret: %v", err)
		}
	}
	// Connect refuses them too: a stored secret would have no use.
	if _, err := drv.Connect(t.Context(), json.RawMessage(`{}`), []byte(`{"password":"x"}`)); err == nil {
		t.Error("Connect accepted credentials")
	}
	// Without an agent source (a misbuilt process) Connect says so.
	if _, err := drv.Connect(t.Context(), json.RawMessage(`{}`), nil); app.ErrCode(err) != app.EUNAVAILABLE {
		t.Errorf("Connect without agents: %v", err)
	}
}

func TestOperationsRegistered(t *testing.T) {
	reg := app.NewRegistry()
	hosts.Register(reg, hosts.NewDriver(nil, nil, nil))
	if _, err := reg.Driver("agents"); err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, s := range reg.Operations("agents") {
		types = append(types, s.Type)
		if len(s.Fields) == 0 || s.Fields[0].Name != "host" || !s.Fields[0].Required {
			t.Errorf("%s: first field is not a required host: %+v", s.Type, s.Fields)
		}
		if s.New == nil || s.Description == "" {
			t.Errorf("%s: incomplete spec", s.Type)
		}
	}
	want := "host.facts.refresh host.ssh_key.add host.ssh_key.remove host.user.create host.user.delete host.user.lock host.user.unlock"
	if got := strings.Join(types, " "); got != want {
		t.Errorf("operations = %s, want %s", got, want)
	}
	for _, s := range reg.Operations("agents") {
		if s.Type == "host.user.create" {
			var names []string
			for _, f := range s.Fields {
				names = append(names, f.Name+":"+string(f.Kind))
			}
			if got := strings.Join(names, " "); got != "host:string name:string groups:list shell:string comment:string" {
				t.Errorf("host.user.create fields = %s", got)
			}
		}
	}
}
