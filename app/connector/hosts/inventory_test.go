package hosts_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/connector/hosts"
)

func attrsJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestInventory(t *testing.T) {
	f := newFleet(t)
	c := f.connect(`{"labels":{"env":"prod"}}`)
	obs, err := c.(app.InventoryConn).Inventory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]app.Observation{}
	for _, o := range obs {
		k := o.Kind + " " + o.ExternalID
		if _, dup := byID[k]; dup {
			t.Errorf("duplicate observation %s", k)
		}
		byID[k] = o
	}
	// Hosts: the prod agents, whatever their status; staging-1 is not
	// selected.
	var hostNames []string
	for _, o := range obs {
		if o.Kind == hosts.KindHost {
			hostNames = append(hostNames, o.Name+"="+o.Attributes["status"].(string))
		}
	}
	sort.Strings(hostNames)
	if got := strings.Join(hostNames, " "); got != "db-1=offline old-1=revoked web-1=online web-2=offline" {
		t.Errorf("hosts = %s", got)
	}
	h := byID["host "+f.web1.ID]
	wantHost := `{"agent_version":"1.2.3","cert_not_after":"` + f.web1.CertNotAfter.UTC().Format(time.RFC3339) +
		`","hostname":"web-1","kernel":"6.12.0","labels":{"env":"prod","role":"web"},"os":"Debian GNU/Linux 13","status":"online"}`
	if got := attrsJSON(t, h.Attributes); got != wantHost || h.Name != "web-1" {
		t.Errorf("host %s = %s\nwant %s", h.Name, got, wantHost)
	}

	u := byID["host.user "+f.web1.ID+"/alice"]
	if u.Name != "web-1/alice" || attrsJSON(t, u.Attributes) != `{"home":"/home/alice","locked":false,"no_password":false,"shell":"/bin/bash","ssh_keys":2,"uid":1001,"user":"alice"}` {
		t.Errorf("user = %s %s", u.Name, attrsJSON(t, u.Attributes))
	}
	k := byID["host.ssh_key "+f.web1.ID+"/alice/"+f.aliceKey1]
	if k.Name != "web-1/alice/"+f.aliceKey1[:len("SHA256:")+12] ||
		attrsJSON(t, k.Attributes) != `{"comment":"alice@laptop","fingerprint":"`+f.aliceKey1+`","type":"ssh-ed25519","user":"alice"}` {
		t.Errorf("key = %s %s", k.Name, attrsJSON(t, k.Attributes))
	}
	// web-1, db-1 and old-1 report 4 users and 3 keys each; web-2 nothing.
	count := map[string]int{}
	for _, o := range obs {
		count[o.Kind]++
	}
	if count[hosts.KindHost] != 4 || count[hosts.KindUser] != 12 || count[hosts.KindSSHKey] != 9 {
		t.Errorf("counts = %v", count)
	}

	// The same data encodes the same way: nothing looks changed.
	again, err := c.(app.InventoryConn).Inventory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if attrsJSON(t, again) != attrsJSON(t, obs) {
		t.Error("a second inventory of unchanged data differs")
	}

	if msg, err := c.Test(t.Context()); err != nil || msg != "4 agents with labels env=prod (1 online, 2 offline, 1 revoked)" {
		t.Errorf("Test = %q, %v", msg, err)
	}
}

// TestSyncFindingsAndDrift runs the real sync of the application over the
// driver: assets from stored heartbeats, the hygiene rules, status changes
// that are not drift, and changes that are.
func TestSyncFindingsAndDrift(t *testing.T) {
	f := newFleet(t)
	ctx := t.Context()
	sys := app.SystemActor("test")
	conn, err := f.svc.CreateConnector(ctx, sys, app.ConnectorInput{Name: "prod-hosts", Type: hosts.Type,
		Config: json.RawMessage(`{"labels":{"env":"prod"},"ssh_key_max_age_days":30}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.SyncConnector(ctx, sys, conn.ID); err != nil {
		t.Fatal(err)
	}
	findings := func() map[string]app.Finding {
		t.Helper()
		fs, err := f.svc.ListFindings(ctx, sys, app.FindingFilter{ConnectorID: conn.ID, OpenOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		assets, err := f.svc.ListAssets(ctx, sys, app.AssetFilter{ConnectorID: conn.ID, Limit: 500}, "")
		if err != nil {
			t.Fatal(err)
		}
		names := map[int64]string{}
		for _, a := range assets.Assets {
			names[a.ID] = a.Name
		}
		out := map[string]app.Finding{}
		for _, x := range fs {
			out[x.Rule+" "+names[x.AssetID]] = x
		}
		return out
	}
	got := findings()
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// Revoked old-1 is not judged; web-1 and db-1 are.
	bobShort := f.bobKey[:len("SHA256:")+12]
	want := []string{
		"host.ssh_key.on_locked_user db-1/bob/" + bobShort,
		"host.ssh_key.on_locked_user web-1/bob/" + bobShort,
		"host.user.uid0_not_root db-1/toor",
		"host.user.uid0_not_root web-1/toor",
	}
	if strings.Join(keys, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(keys, "\n"), strings.Join(want, "\n"))
	}
	onLocked := got["host.ssh_key.on_locked_user web-1/bob/"+bobShort]
	if onLocked.Severity != app.SeverityHigh || onLocked.RemedyType != "host.ssh_key.remove" ||
		string(onLocked.RemedyParams) != `{"fingerprint":"`+f.bobKey+`","host":"web-1","user":"bob"}` ||
		!strings.Contains(onLocked.Message, "bob on web-1, whose password is locked") {
		t.Errorf("on_locked_user = %+v", onLocked)
	}
	// The remedy is a valid operation that plans.
	op, err := f.reg.DecodeOperation(hosts.Type, onLocked.RemedyType, onLocked.RemedyParams)
	if err != nil {
		t.Fatalf("remedy does not decode: %v", err)
	}
	if _, err := op.Plan(ctx, f.connect(`{"labels":{"env":"prod"}}`)); err != nil {
		t.Errorf("remedy does not plan: %v", err)
	}
	uid0 := got["host.user.uid0_not_root web-1/toor"]
	if uid0.Severity != app.SeverityHigh || uid0.RemedyType != "" || !strings.Contains(uid0.Message, "toor on web-1 has uid 0") {
		t.Errorf("uid0_not_root = %+v", uid0)
	}

	// Time passes; web-1 keeps reporting, db-1 stays silent. The status
	// moves (online -> offline for web-1 in between) without drift; keys
	// now older than 30 days are flagged.
	f.clock.Advance(31 * 24 * time.Hour)
	res, err := f.svc.SyncConnector(ctx, sys, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Drift != 0 || res.Changed != 0 {
		t.Errorf("status change counted as change or drift: %+v", res)
	}
	users := []ops.HostUser{
		{Name: "root", UID: 0, Shell: "/bin/bash", Home: "/root", Locked: true},
		{Name: "alice", UID: 1001, Shell: "/bin/bash", Home: "/home/alice", Locked: true, SSHKeys: []ops.SSHKey{
			{Fingerprint: f.aliceKey1, Type: "ssh-ed25519", Comment: "alice@laptop"}}},
	}
	f.heartbeat(f.web1, users) // toor and bob gone, alice locked with one key left
	res, err = f.svc.SyncConnector(ctx, sys, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	// alice changed, toor and bob (and their keys) disappeared, alice's
	// second key disappeared: all outside Nexplane, so all drift.
	if res.Changed != 1 || res.Disappeared != 4 || res.Drift != 5 {
		t.Errorf("sync after the host changed: %+v", res)
	}
	got = findings()
	keys = keys[:0]
	for k := range got {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	aliceShort := f.aliceKey1[:len("SHA256:")+12]
	want = []string{
		"host.ssh_key.on_locked_user db-1/bob/" + bobShort,
		"host.ssh_key.on_locked_user web-1/alice/" + aliceShort,
		"host.ssh_key.too_old db-1/alice/" + aliceShort,
		"host.ssh_key.too_old db-1/alice/" + f.aliceKey2[:len("SHA256:")+12],
		"host.ssh_key.too_old db-1/bob/" + bobShort,
		"host.ssh_key.too_old web-1/alice/" + aliceShort,
		"host.user.uid0_not_root db-1/toor",
	}
	sort.Strings(want)
	if strings.Join(keys, "\n") != strings.Join(want, "\n") {
		t.Fatalf("findings:\n%s\nwant:\n%s", strings.Join(keys, "\n"), strings.Join(want, "\n"))
	}
	old := got["host.ssh_key.too_old web-1/alice/"+aliceShort]
	if old.Severity != app.SeverityMedium || old.RemedyType != "host.ssh_key.remove" || !strings.Contains(old.Message, "31 days ago; the policy is at most 30 days") {
		t.Errorf("too_old = %+v", old)
	}
}

func TestFindingsPure(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	drv := hosts.NewDriver(nil, nil, nil)
	host := func(id int64, agentID, name, status string) app.Asset {
		return app.Asset{ID: id, Kind: hosts.KindHost, ExternalID: agentID, Name: name,
			Attributes: json.RawMessage(`{"hostname":"` + name + `","status":"` + status + `"}`), FirstSeen: now}
	}
	const a1, a2 = "00000000000000a1", "00000000000000a2"
	fp := "SHA256:" + strings.Repeat("A", 43)
	assets := []app.Asset{
		host(1, a1, "web-1", "online"),
		host(2, a2, "web-1", "offline"), // same hostname: remedies name the agent id
		{ID: 3, Kind: hosts.KindUser, ExternalID: a1 + "/svc", Attributes: json.RawMessage(`{"user":"svc","uid":999,"locked":true}`)},
		{ID: 4, Kind: hosts.KindSSHKey, ExternalID: a1 + "/svc/" + fp, FirstSeen: now,
			Attributes: json.RawMessage(`{"user":"svc","fingerprint":"` + fp + `","type":"ssh-ed25519"}`)},
		{ID: 5, Kind: hosts.KindUser, ExternalID: a2 + "/dev", Attributes: json.RawMessage(`{"user":"dev","uid":1500,"locked":true}`)},
		{ID: 6, Kind: hosts.KindSSHKey, ExternalID: a2 + "/dev/" + fp, FirstSeen: now,
			Attributes: json.RawMessage(`{"user":"dev","fingerprint":"` + fp + `","type":"ssh-ed25519"}`)},
		// A user never given a password (useradd's "!") logs in by key:
		// its key is not on a locked account.
		{ID: 8, Kind: hosts.KindUser, ExternalID: a1 + "/ops", Attributes: json.RawMessage(`{"user":"ops","uid":1600,"locked":true,"no_password":true}`)},
		{ID: 9, Kind: hosts.KindSSHKey, ExternalID: a1 + "/ops/" + fp, FirstSeen: now,
			Attributes: json.RawMessage(`{"user":"ops","fingerprint":"` + fp + `","type":"ssh-ed25519"}`)},
		// A key of a host not in the list is not judged.
		{ID: 7, Kind: hosts.KindSSHKey, ExternalID: "00000000000000a3/x/" + fp, FirstSeen: now.AddDate(-5, 0, 0),
			Attributes: json.RawMessage(`{"user":"x","fingerprint":"` + fp + `"}`)},
	}
	got := drv.Findings(json.RawMessage(`{}`), assets, now)
	if len(got) != 2 {
		t.Fatalf("findings = %+v", got)
	}
	// uid 999 is a system account the agent will not touch: no remedy.
	if got[0].AssetID != 4 || got[0].RemedyType != "" {
		t.Errorf("system account key = %+v", got[0])
	}
	if got[1].AssetID != 6 || string(got[1].RemedyParams) != `{"fingerprint":"`+fp+`","host":"`+a2+`","user":"dev"}` {
		t.Errorf("ambiguous hostname remedy = %+v", got[1])
	}
	if again := drv.Findings(json.RawMessage(`{}`), assets, now); attrsJSON(t, again) != attrsJSON(t, got) {
		t.Error("Findings is not deterministic")
	}
}

func TestRevokeOperation(t *testing.T) {
	drv := hosts.NewDriver(nil, nil, nil)
	const id = "00000000000000a1"
	fp := "SHA256:" + strings.Repeat("B", 42) + "A"
	for _, tc := range []struct {
		asset      app.Asset
		typ, param string
	}{
		{app.Asset{Kind: hosts.KindSSHKey, ExternalID: id + "/alice/" + fp, Attributes: json.RawMessage(`{"user":"alice","fingerprint":"` + fp + `"}`)},
			"host.ssh_key.remove", `{"fingerprint":"` + fp + `","host":"` + id + `","user":"alice"}`},
		{app.Asset{Kind: hosts.KindUser, ExternalID: id + "/alice", Attributes: json.RawMessage(`{"user":"alice","uid":1001}`)},
			"host.user.lock", `{"host":"` + id + `","name":"alice"}`},
		{app.Asset{Kind: hosts.KindUser, ExternalID: id + "/root", Attributes: json.RawMessage(`{"user":"root","uid":0}`)}, "", ""},
		{app.Asset{Kind: hosts.KindUser, ExternalID: id + "/svc", Attributes: json.RawMessage(`{"user":"svc","uid":500}`)}, "", ""},
		{app.Asset{Kind: hosts.KindSSHKey, ExternalID: id + "/root/" + fp, Attributes: json.RawMessage(`{"user":"root","fingerprint":"` + fp + `"}`)}, "", ""},
		{app.Asset{Kind: hosts.KindHost, ExternalID: id}, "", ""},
	} {
		typ, params, ok := drv.RevokeOperation(&tc.asset)
		if typ != tc.typ || string(params) != tc.param || ok != (tc.typ != "") {
			t.Errorf("%s %s: revoke = %s %s %v, want %s %s", tc.asset.Kind, tc.asset.ExternalID, typ, params, ok, tc.typ, tc.param)
		}
	}
	// The revoke operations decode as operations of the connector.
	reg := app.NewRegistry()
	hosts.Register(reg, drv)
	typ, params, _ := drv.RevokeOperation(&app.Asset{Kind: hosts.KindSSHKey, ExternalID: id + "/alice/" + fp,
		Attributes: json.RawMessage(`{"user":"alice","fingerprint":"` + fp + `"}`)})
	if _, err := reg.DecodeOperation(hosts.Type, typ, params); err != nil {
		t.Errorf("revoke operation does not decode: %v", err)
	}
	if v := drv.Volatile(hosts.KindHost); len(v) != 1 || v[0] != "status" {
		t.Errorf("volatile = %v", v)
	}
}

// TestReadAssets: a targeted read returns exactly the assets named (by
// external id or by name) as Inventory reports them; one the fleet does
// not have is absent, which means gone.
func TestReadAssets(t *testing.T) {
	f := newFleet(t)
	c := f.connect(`{"labels":{"env":"prod"}}`)
	all, err := c.(app.InventoryConn).Inventory(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]app.Observation{}
	for _, o := range all {
		want[o.Kind+" "+o.ExternalID] = o
	}
	got, err := c.(app.AssetReader).ReadAssets(t.Context(), []app.AssetRef{
		{Kind: hosts.KindHost, ExternalID: f.web1.ID},
		{Kind: hosts.KindUser, ExternalID: "web-1/alice"}, // by name
		{Kind: hosts.KindUser, ExternalID: f.web1.ID + "/nobody"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, o := range got {
		k := o.Kind + " " + o.ExternalID
		keys = append(keys, k)
		if attrsJSON(t, o.Attributes) != attrsJSON(t, want[k].Attributes) || o.Name != want[k].Name {
			t.Errorf("%s = %s %s, inventory says %s %s", k, o.Name, attrsJSON(t, o.Attributes), want[k].Name, attrsJSON(t, want[k].Attributes))
		}
	}
	sort.Strings(keys)
	if s := strings.Join(keys, ","); s != "host "+f.web1.ID+",host.user "+f.web1.ID+"/alice" {
		t.Errorf("read %s", s)
	}
}
