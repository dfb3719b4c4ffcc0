package hosts_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/hosts"
)

// fleet is a small estate: web-1 (prod, online), db-1 (prod, offline),
// staging-1 (other labels), old-1 (prod, revoked) and web-2 which has not
// reported yet.
type fleet struct {
	*env
	web1, db1, staging1, old1, web2 *app.Agent
	aliceKey1, aliceKey2, bobKey    string // fingerprints
	aliceLine1                      string
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	f := &fleet{env: newEnv(t)}
	prod := map[string]string{"env": "prod"}
	f.web1 = f.enroll("web-1", map[string]string{"env": "prod", "role": "web"})
	f.db1 = f.enroll("db-1", map[string]string{"env": "prod", "role": "db"})
	f.staging1 = f.enroll("staging-1", map[string]string{"env": "staging"})
	f.old1 = f.enroll("old-1", prod)
	f.web2 = f.enroll("web-2", prod)

	f.aliceLine1, f.aliceKey1 = sshKey(t, "alice@laptop")
	_, f.aliceKey2 = sshKey(t, "")
	_, f.bobKey = sshKey(t, "bob@old")
	users := []ops.HostUser{
		{Name: "root", UID: 0, Shell: "/bin/bash", Home: "/root", Locked: true},
		{Name: "toor", UID: 0, Shell: "/bin/sh", Home: "/root"},
		{Name: "alice", UID: 1001, Shell: "/bin/bash", Home: "/home/alice", SSHKeys: []ops.SSHKey{
			{Fingerprint: f.aliceKey1, Type: "ssh-ed25519", Comment: "alice@laptop"},
			{Fingerprint: f.aliceKey2, Type: "ssh-ed25519"}}},
		{Name: "bob", UID: 1002, Shell: "/bin/bash", Home: "/home/bob", Locked: true, SSHKeys: []ops.SSHKey{
			{Fingerprint: f.bobKey, Type: "ssh-ed25519", Comment: "bob@old"}}},
	}
	f.heartbeat(f.db1, users)
	f.heartbeat(f.staging1, users)
	f.heartbeat(f.old1, users)
	if _, err := f.svc.RevokeAgent(t.Context(), app.SystemActor("test"), f.old1.ID); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(10 * time.Minute) // db-1 falls silent
	f.heartbeat(f.web1, users)
	return f
}

func TestDecodeValidation(t *testing.T) {
	e := newEnv(t)
	keyLine, fp := sshKey(t, "carol@desk")
	for _, tc := range []struct {
		typ, params, want string
	}{
		{"host.user.lock", `{"name":"alice"}`, "host is required"},
		{"host.user.lock", `{"host":"","name":"alice"}`, "host is required"},
		{"host.user.lock", `{"host":"../web-1","name":"alice"}`, "host must be a hostname"},
		{"host.user.lock", `{"host":"web 1","name":"alice"}`, "host must be a hostname"},
		{"host.user.lock", `{"host":1,"name":"alice"}`, `field "host" has the wrong type`},
		{"host.user.lock", `{"host":"web-1"}`, "name:"},
		{"host.user.lock", `{"host":"web-1","name":"../x"}`, `"../x" must be 1-32 characters`},
		{"host.user.lock", `{"host":"web-1","name":"root"}`, "system account"},
		{"host.user.lock", `{"host":"web-1","name":"-o"}`, "must be 1-32 characters"},
		{"host.user.lock", `{"host":"web-1","name":"alice","shell":"/bin/sh"}`, `unknown field "shell"`},
		{"host.user.lock", `{"host":"web-1","name":"alice","name":"root"}`, `"name" is given twice`},
		{"host.user.lock", `{"host":"web-1","host":"db-1","name":"alice"}`, `"host" is given twice`},
		{"host.user.lock", `["web-1"]`, "must be a JSON object"},
		{"host.user.lock", `{"host":"web-1","name":"alice"} {}`, "single JSON object"},
		{"host.user.create", `{"host":"web-1","name":"carol","shell":"/bin/evil"}`, "not an allowed shell"},
		{"host.user.create", `{"host":"web-1","name":"carol","shell":"/bin/bash","groups":["shadow"]}`, "root-equivalent"},
		{"host.user.create", `{"host":"web-1","name":"carol","shell":"/bin/bash","comment":"a:b"}`, "must not contain ':'"},
		{"host.ssh_key.add", `{"host":"web-1","user":"carol","public_key":"command=\"sh\" ` + keyLine + `"}`, "options"},
		{"host.ssh_key.add", `{"host":"web-1","user":"carol","public_key":"ssh-ed25519 AAAA"}`, "public_key"},
		{"host.ssh_key.add", `{"host":"web-1","user":"carol","public_key":"` + keyLine + `\nssh-ed25519 AAAA"}`, "public_key"},
		{"host.ssh_key.remove", `{"host":"web-1","user":"carol","fingerprint":"MD5:aa"}`, "fingerprint"},
		{"host.facts.refresh", `{"host":"web-1","extra":1}`, `unknown field "extra"`},
		{"host.user.rename", `{"host":"web-1"}`, "unknown operation type"},
	} {
		_, err := e.reg.DecodeOperation(hosts.Type, tc.typ, json.RawMessage(tc.params))
		if app.ErrCode(err) != app.EINVALID || !strings.Contains(app.ErrMessage(err), tc.want) {
			t.Errorf("%s %s: err = %v, want invalid containing %q", tc.typ, tc.params, err, tc.want)
		}
	}

	// Good parameters decode, and their normal form (what is stored)
	// decodes again to the same thing.
	for _, tc := range []struct{ typ, params, norm string }{
		{"host.user.lock", `{"name":"alice","host":"web-1"}`, `{"host":"web-1","name":"alice"}`},
		{"host.user.create", `{"host":"web-1","name":"carol","shell":"/bin/bash","groups":["dev"]}`,
			`{"groups":["dev"],"host":"web-1","name":"carol","shell":"/bin/bash"}`},
		{"host.user.delete", `{"host":"0123456789abcdef","name":"carol","remove_home":false}`, `{"host":"0123456789abcdef","name":"carol"}`},
		{"host.ssh_key.remove", `{"host":"web-1","user":"carol","fingerprint":"` + fp + `"}`,
			`{"fingerprint":"` + fp + `","host":"web-1","user":"carol"}`},
		{"host.facts.refresh", `{"host":"web-1"}`, `{"host":"web-1"}`},
	} {
		op := e.op(tc.typ, tc.params)
		b, err := json.Marshal(op)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tc.norm {
			t.Errorf("%s normal form = %s, want %s", tc.typ, b, tc.norm)
		}
		if _, err := e.reg.DecodeOperation(hosts.Type, tc.typ, b); err != nil {
			t.Errorf("%s: normal form does not decode: %v", tc.typ, err)
		}
	}
}

func TestPlan(t *testing.T) {
	f := newFleet(t)
	c := f.connect(`{"labels":{"env":"prod"}}`)
	plan := func(typ, params string) (string, error) {
		return f.op(typ, params).Plan(t.Context(), c)
	}
	newLine, newFP := sshKey(t, "alice@new")
	for _, tc := range []struct {
		typ, params string
		want        []string
	}{
		{"host.user.lock", `{"host":"web-1","name":"alice"}`, []string{
			"Will lock the password of alice (uid 1001) on web-1 (agent " + f.web1.ID + ")", "currently unlocked with 2 SSH keys",
			"does not stop SSH key logins", "Inventory as of the last heartbeat 0s ago"}},
		// The agent id names the host as well as its hostname; case does not matter.
		{"host.user.lock", `{"host":"` + f.web1.ID + `","name":"bob"}`, []string{"bob (uid 1002) on web-1", "already locked; the agent will change nothing"}},
		{"host.user.lock", `{"host":"WEB-1","name":"carol"}`, []string{"carol is not a local user in the last inventory", "agent will refuse"}},
		{"host.user.unlock", `{"host":"web-1","name":"bob"}`, []string{"Will unlock the password of bob (uid 1002)", "currently locked with 1 SSH key."}},
		{"host.user.delete", `{"host":"web-1","name":"alice","remove_home":true}`, []string{
			"Will delete local user alice (uid 1001, unlocked, 2 SSH keys)", "remove its home directory /home/alice"}},
		{"host.user.delete", `{"host":"web-1","name":"alice"}`, []string{"home directory /home/alice stays on disk"}},
		{"host.user.create", `{"host":"web-1","name":"carol","shell":"/bin/bash","groups":["dev"]}`, []string{
			"Will create local user carol on web-1", "shell /bin/bash", "in groups dev", "password starts locked"}},
		{"host.ssh_key.add", `{"host":"web-1","user":"alice","public_key":"` + newLine + `"}`, []string{
			"Will add SSH key " + newFP + ` (ssh-ed25519, "alice@new"), without options`, "alice (uid 1001)", "has 2 SSH keys now"}},
		{"host.ssh_key.add", `{"host":"web-1","user":"alice","public_key":"` + f.aliceLine1 + `"}`, []string{"already authorized", "change nothing"}},
		{"host.ssh_key.add", `{"host":"web-1","user":"bob","public_key":"` + newLine + `"}`, []string{"bob's password is locked; the key opens a login all the same"}},
		{"host.ssh_key.remove", `{"host":"web-1","user":"alice","fingerprint":"` + f.aliceKey1 + `"}`, []string{
			"Will remove SSH key " + f.aliceKey1 + ` (ssh-ed25519, "alice@laptop")`, "1 SSH key will remain"}},
		{"host.ssh_key.remove", `{"host":"web-1","user":"alice","fingerprint":"` + f.bobKey + `"}`, []string{"is not authorized for alice"}},
		{"host.facts.refresh", `{"host":"web-1"}`, []string{"report its facts and inventory now"}},
		// Offline: a plan from the last heartbeat, with a warning.
		{"host.user.lock", `{"host":"db-1","name":"alice"}`, []string{"Will lock the password of alice (uid 1001) on db-1",
			"Warning: the agent is offline (last heartbeat 10m ago); the change will fail unless it reconnects within 60s"}},
		// Never reported: the state is unknown, said so.
		{"host.user.lock", `{"host":"web-2","name":"alice"}`, []string{"has not reported its users yet", "no heartbeat yet"}},
	} {
		got, err := plan(tc.typ, tc.params)
		if err != nil {
			t.Errorf("plan %s %s: %v", tc.typ, tc.params, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("plan %s %s = %q\nwant it to contain %q", tc.typ, tc.params, got, w)
			}
		}
	}

	for _, tc := range []struct {
		typ, params string
		code        app.ErrorCode
		want        string
	}{
		{"host.user.lock", `{"host":"web-9","name":"alice"}`, app.ENOTFOUND, `no enrolled agent has host "web-9"`},
		{"host.user.lock", `{"host":"0123456789abcdef","name":"alice"}`, app.ENOTFOUND, "no enrolled agent"},
		{"host.user.lock", `{"host":"staging-1","name":"alice"}`, app.EINVALID, "is not part of this connector: it lacks the labels env=prod"},
		{"host.user.lock", `{"host":"` + f.staging1.ID + `","name":"alice"}`, app.EINVALID, "not part of this connector"},
		{"host.user.lock", `{"host":"old-1","name":"alice"}`, app.EINVALID, "is revoked"},
		{"host.user.lock", `{"host":"web-1","name":"toor"}`, app.EINVALID, "toor has uid 0 on web-1: the agent never changes system accounts"},
		{"host.user.create", `{"host":"web-1","name":"alice","shell":"/bin/sh"}`, app.ECONFLICT, "alice already exists on web-1 (uid 1001)"},
	} {
		_, err := plan(tc.typ, tc.params)
		if app.ErrCode(err) != tc.code || !strings.Contains(app.ErrMessage(err), tc.want) {
			t.Errorf("plan %s %s: err = %v, want %s containing %q", tc.typ, tc.params, err, tc.code, tc.want)
		}
	}

	// Two live agents with one hostname: the id must be given.
	dup := f.enroll("web-1", map[string]string{"env": "prod"})
	_, err := plan("host.user.lock", `{"host":"web-1","name":"alice"}`)
	if app.ErrCode(err) != app.EINVALID || !strings.Contains(err.Error(), "names 2 agents") || !strings.Contains(err.Error(), dup.ID) {
		t.Errorf("ambiguous host: %v", err)
	}
	if _, err := plan("host.user.lock", `{"host":"`+f.web1.ID+`","name":"alice"}`); err != nil {
		t.Errorf("by agent id: %v", err)
	}
	// An empty selector takes every agent.
	all := f.connect(`{}`)
	if _, err := f.op("host.user.lock", `{"host":"staging-1","name":"alice"}`).Plan(t.Context(), all); err != nil {
		t.Errorf("empty selector: %v", err)
	}
}

func TestExecuteThroughHub(t *testing.T) {
	f := newFleet(t)
	c := f.connect(`{"labels":{"env":"prod"}}`)
	agent := startAgent(t, f.hub, f.web1.ID, okAgent)

	res, err := f.op("host.user.delete", `{"host":"web-1","name":"alice","remove_home":true}`).Execute(t.Context(), c)
	if err != nil {
		t.Fatal(err)
	}
	got := agent.received()
	if len(got) != 1 || got[0].Type != "host.user.delete" || string(got[0].Params) != `{"name":"alice","remove_home":true}` || len(got[0].ID) != 32 {
		t.Fatalf("agent received %+v", got)
	}
	if res.Summary != "web-1: delete local user alice and remove its home directory" {
		t.Errorf("summary = %q", res.Summary)
	}
	if res.Details["agent_id"] != f.web1.ID || res.Details["hostname"] != "web-1" || res.Details["work_id"] != got[0].ID || res.Details["changed"] != true {
		t.Errorf("details = %v", res.Details)
	}
	wantRefs := []app.AssetRef{{Kind: hosts.KindUser, ExternalID: f.web1.ID + "/alice"},
		{Kind: hosts.KindSSHKey, ExternalID: f.web1.ID + "/alice/" + f.aliceKey1},
		{Kind: hosts.KindSSHKey, ExternalID: f.web1.ID + "/alice/" + f.aliceKey2}}
	if !sameRefs(res.Affects, wantRefs) {
		t.Errorf("affects = %v, want %v", res.Affects, wantRefs)
	}

	// Every operation type goes through, each with a fresh work id.
	line, fp := sshKey(t, "carol@desk")
	for _, tc := range []struct{ typ, params, agentParams string }{
		{"host.user.create", `{"host":"web-1","name":"carol","shell":"/bin/bash"}`, `{"name":"carol","shell":"/bin/bash"}`},
		{"host.user.lock", `{"host":"web-1","name":"carol"}`, `{"name":"carol"}`},
		{"host.user.unlock", `{"host":"web-1","name":"carol"}`, `{"name":"carol"}`},
		{"host.ssh_key.add", `{"host":"web-1","user":"carol","public_key":"` + line + `"}`, `{"user":"carol","public_key":"` + line + `"}`},
		{"host.ssh_key.remove", `{"host":"web-1","user":"carol","fingerprint":"` + fp + `"}`, `{"user":"carol","fingerprint":"` + fp + `"}`},
		{"host.facts.refresh", `{"host":"` + f.web1.ID + `"}`, `{}`},
	} {
		if _, err := f.op(tc.typ, tc.params).Execute(t.Context(), c); err != nil {
			t.Errorf("%s: %v", tc.typ, err)
			continue
		}
		got := agent.received()
		last := got[len(got)-1]
		if last.Type != tc.typ || string(last.Params) != tc.agentParams {
			t.Errorf("%s: agent received %s %s, want %s", tc.typ, last.Type, last.Params, tc.agentParams)
		}
	}
	ids := map[string]bool{}
	for _, w := range agent.received() {
		if ids[w.ID] {
			t.Errorf("work id %s used twice", w.ID)
		}
		ids[w.ID] = true
	}

	// In a change request's run the operation key is the work id, on every
	// run of the operation (the agent answers a repeat from memory).
	keyed := app.WithOperationKey(t.Context(), "0123456789abcdef0123456789abcdef")
	for range 2 {
		res, err := f.op("host.user.lock", `{"host":"web-1","name":"carol"}`).Execute(keyed, c)
		if err != nil {
			t.Fatal(err)
		}
		got := agent.received()
		if last := got[len(got)-1]; last.ID != "0123456789abcdef0123456789abcdef" || res.Details["work_id"] != last.ID {
			t.Errorf("keyed execute: work id %s, details %v", last.ID, res.Details)
		}
	}

	// The agent's failure is the operation's error.
	fail := startAgent(t, f.hub, f.db1.ID, func(ops.Work, ops.Op, error) *ops.Result {
		return &ops.Result{OK: false, Error: `user "alice" has uid 1001 but its home is shared`}
	})
	_, err = f.op("host.user.lock", `{"host":"db-1","name":"alice"}`).Execute(t.Context(), c)
	if err == nil || !strings.Contains(err.Error(), `agent db-1 refused or failed host.user.lock: user "alice" has uid 1001 but its home is shared`) {
		t.Errorf("agent failure: %v", err)
	}
	if len(fail.received()) != 1 {
		t.Errorf("failing agent received %v", fail.received())
	}

	// Refused before anything is queued: outside the selector, revoked.
	for _, host := range []string{"staging-1", "old-1"} {
		if _, err := f.op("host.user.lock", `{"host":"`+host+`","name":"alice"}`).Execute(t.Context(), c); app.ErrCode(err) != app.EINVALID {
			t.Errorf("execute on %s: %v", host, err)
		}
	}
	for _, a := range []*app.Agent{f.staging1, f.old1} {
		if n := f.hub.Queued(a.ID); n != 0 {
			t.Errorf("%s has %d queued items", a.Hostname, n)
		}
	}
}

func sameRefs(a, b []app.AssetRef) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[app.AssetRef]int{}
	for _, r := range a {
		seen[r]++
	}
	for _, r := range b {
		if seen[r] == 0 {
			return false
		}
		seen[r]--
	}
	return true
}

func TestExecuteTimeoutLeavesNothingQueued(t *testing.T) {
	f := newFleet(t)
	c := f.connect(`{"labels":{"env":"prod"},"timeout":"5s"}`)

	t.Run("never picked up", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		_, err := f.op("host.user.lock", `{"host":"db-1","name":"alice"}`).Execute(t.Context(), c)
		if app.ErrCode(err) != app.EUNAVAILABLE || !strings.Contains(err.Error(), "agent db-1 offline: no result within 5s; the work was withdrawn and will not run") {
			t.Fatalf("err = %v", err)
		}
		if d := time.Since(start); d < 5*time.Second || d > 8*time.Second {
			t.Errorf("gave up after %s", d)
		}
		if n := f.hub.Queued(f.db1.ID); n != 0 {
			t.Errorf("%d items left queued", n)
		}
		// The agent coming back later finds nothing.
		if w, err := f.hub.Poll(t.Context(), f.db1.ID, 0); err != nil || len(w) != 0 {
			t.Errorf("late poll = %v, %v", w, err)
		}
		if f.hub.Waiting(f.db1.ID) {
			t.Error("a poll is still registered")
		}
	})
	t.Run("taken but not answered", func(t *testing.T) {
		t.Parallel()
		agent := startAgent(t, f.hub, f.web1.ID, func(ops.Work, ops.Op, error) *ops.Result { return nil })
		_, err := f.op("host.user.lock", `{"host":"web-1","name":"alice"}`).Execute(t.Context(), c)
		if app.ErrCode(err) != app.EUNAVAILABLE || !strings.Contains(err.Error(), "agent web-1 offline: no result within 5s; the agent had received the work") {
			t.Fatalf("err = %v", err)
		}
		if len(agent.received()) != 1 {
			t.Errorf("agent received %v", agent.received())
		}
		if n := f.hub.Queued(f.web1.ID); n != 0 {
			t.Errorf("%d items left queued or in flight", n)
		}
	})
	t.Run("caller gives up first", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := f.op("host.facts.refresh", `{"host":"web-2"}`).Execute(ctx, c)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no result before the operation was stopped") {
			t.Fatalf("err = %v", err)
		}
		if n := f.hub.Queued(f.web2.ID); n != 0 {
			t.Errorf("%d items left queued", n)
		}
	})
}

func TestExecuteWithoutDispatcher(t *testing.T) {
	f := newFleet(t)
	drv := hosts.NewDriver(nil, f.db, f.clock.Now)
	c, err := drv.Connect(t.Context(), json.RawMessage(`{}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.op("host.user.lock", `{"host":"web-1","name":"alice"}`).Execute(t.Context(), c)
	if app.ErrCode(err) != app.EUNAVAILABLE || !strings.Contains(err.Error(), "does not serve agents") {
		t.Errorf("err = %v", err)
	}
}
