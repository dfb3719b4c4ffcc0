package ops

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestDecodeValid(t *testing.T) {
	for _, tc := range []struct {
		typ, params string
		want        Op
	}{
		{TypeUserCreate, `{"name":"bob","groups":["users","dev"],"shell":"/bin/bash","comment":"Bob B"}`,
			UserCreate{Name: "bob", Groups: []string{"users", "dev"}, Shell: "/bin/bash", Comment: "Bob B"}},
		{TypeUserLock, `{"name":"bob"}`, UserLock{Name: "bob"}},
		{TypeUserUnlock, `{"name":"_svc-1"}`, UserUnlock{Name: "_svc-1"}},
		{TypeUserDelete, `{"name":"bob","remove_home":true}`, UserDelete{Name: "bob", RemoveHome: true}},
		{TypeSSHKeyAdd, `{"user":"bob","public_key":"` + ed25519Line + `"}`, SSHKeyAdd{User: "bob", PublicKey: ed25519Line}},
		{TypeSSHKeyRemove, `{"user":"bob","fingerprint":"` + ed25519FP + `"}`, SSHKeyRemove{User: "bob", Fingerprint: ed25519FP}},
		{TypeFactsRefresh, `{}`, FactsRefresh{}},
		{TypeFactsRefresh, ``, FactsRefresh{}},
		{TypeFactsRefresh, `null`, FactsRefresh{}},
	} {
		op, err := Decode(tc.typ, json.RawMessage(tc.params))
		if err != nil {
			t.Fatalf("%s %s: %v", tc.typ, tc.params, err)
		}
		if op.Type() != tc.typ {
			t.Errorf("Type() = %s", op.Type())
		}
		got, _ := json.Marshal(op)
		want, _ := json.Marshal(tc.want)
		if string(got) != string(want) {
			t.Errorf("%s: decoded %s, want %s", tc.typ, got, want)
		}
		if op.Summary() == "" {
			t.Errorf("%s: empty summary", tc.typ)
		}
		// Round trip through NewWork, as the server sends it.
		w, err := NewWork("w1", op)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(w.Type, w.Params); err != nil {
			t.Errorf("%s: round trip: %v", tc.typ, err)
		}
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct{ typ, params, want string }{
		{"host.rm_rf", `{}`, "unknown operation type"},
		{"", `{}`, "unknown operation type"},
		{TypeUserLock, `{"name":"bob","extra":1}`, "unknown field"},
		{TypeUserLock, `{"name":"bob"} {}`, "trailing"},
		{TypeUserLock, `{"name":"bob"`, "parameters"},
		{TypeUserLock, `[]`, "parameters"},
		{TypeUserLock, `{}`, "name"},
		{TypeUserLock, `{"name":"root"}`, "system account"},
		{TypeUserLock, `{"name":"../x"}`, "must be"},
		{TypeUserLock, `{"name":"-o"}`, "must be"},
		{TypeUserLock, `{"name":"Bob"}`, "must be"},
		{TypeUserLock, `{"name":"systemd-network"}`, "system account"},
		{TypeUserLock, `{"name":"` + strings.Repeat("a", 33) + `"}`, "must be"},
		{TypeUserDelete, `{"name":"nobody"}`, "system account"},
		{TypeUserCreate, `{"name":"bob","shell":"/bin/tcsh"}`, "not an allowed shell"},
		{TypeUserCreate, `{"name":"bob"}`, "shell"},
		{TypeUserCreate, `{"name":"bob","shell":"/bin/sh","groups":["root"]}`, "root-equivalent"},
		{TypeUserCreate, `{"name":"bob","shell":"/bin/sh","groups":["a","a"]}`, "twice"},
		{TypeUserCreate, `{"name":"bob","shell":"/bin/sh","groups":["../etc"]}`, "must be"},
		{TypeUserCreate, `{"name":"bob","shell":"/bin/sh","comment":"a:b"}`, "':'"},
		{TypeUserCreate, `{"name":"bob","shell":"/bin/sh","comment":"a\nb"}`, "control"},
		{TypeSSHKeyAdd, `{"user":"bob","public_key":"command=\"x\" ` + ed25519Line + `"}`, "options"},
		{TypeSSHKeyAdd, `{"user":"root","public_key":"` + ed25519Line + `"}`, "system account"},
		{TypeSSHKeyAdd, `{"user":"bob","public_key":"` + rsa1024Line + `"}`, "too small"},
		{TypeSSHKeyRemove, `{"user":"bob","fingerprint":"MD5:xx"}`, "SHA256"},
		{TypeFactsRefresh, `{"x":1}`, "unknown field"},
		{TypeUserLock, `{"name":"` + strings.Repeat("a", MaxParamsBytes) + `"}`, "larger than"},
	} {
		_, err := Decode(tc.typ, json.RawMessage(tc.params))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %.60s: err = %v, want %q", tc.typ, tc.params, err, tc.want)
		}
	}
	_, err := Decode("nope", nil)
	if !errors.Is(err, ErrUnknownType) {
		t.Errorf("unknown type error does not wrap ErrUnknownType: %v", err)
	}
}

func TestSpecsCoverTypes(t *testing.T) {
	types := Types()
	if len(types) != 7 {
		t.Fatalf("Types() = %v", types)
	}
	for _, s := range Specs() {
		if !Known(s.Type) || s.Description == "" || s.Fields == nil {
			t.Errorf("spec %+v incomplete", s)
		}
		for _, f := range s.Fields {
			if !slices.Contains([]string{KindString, KindList, KindBool}, f.Kind) || f.Label == "" {
				t.Errorf("%s.%s: kind %q label %q", s.Type, f.Name, f.Kind, f.Label)
			}
		}
	}
	// Specs returns copies: callers cannot corrupt the registry.
	s := Specs()
	s[0].Fields[0].Name = "x"
	if Specs()[0].Fields[0].Name == "x" {
		t.Error("Specs() shares its slices")
	}
	if _, err := NewWork("", FactsRefresh{}); err == nil {
		t.Error("empty id accepted")
	}
	if _, err := NewWork("1", UserLock{Name: "root"}); err == nil {
		t.Error("invalid op accepted by NewWork")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(TypeUserCreate, `{"name":"bob","shell":"/bin/bash"}`)
	f.Add(TypeSSHKeyAdd, `{"user":"bob","public_key":"`+ed25519Line+`"}`)
	f.Add(TypeSSHKeyRemove, `{"user":"bob","fingerprint":"`+ed25519FP+`"}`)
	f.Fuzz(func(t *testing.T, typ, params string) {
		op, err := Decode(typ, json.RawMessage(params))
		if err == nil && op.Validate() != nil {
			t.Fatal("Decode returned an op that does not validate")
		}
	})
}
