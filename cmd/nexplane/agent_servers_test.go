package main

import (
	"os"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/store"
	"github.com/nexplane/nexplane/store/storetest"
)

// TestAgentAcrossServers runs two server processes on one PostgreSQL
// database, as a team that outgrew one machine would. The agent polls B;
// change requests go through A's API, and host operations reach the agent
// wherever the request executes (A relays to B, B delivers itself).
func TestAgentAcrossServers(t *testing.T) {
	pg := os.Getenv(storetest.EnvTestPostgresURL)
	if pg == "" {
		requireIntegration(t, storetest.EnvTestPostgresURL+" is not set (two servers need a shared PostgreSQL)")
	}
	s := &agentStack{root: hostRoot(t), agentBin: buildAgent(t), state: t.TempDir()}
	dbURL := storetest.MustPostgresURL(t, pg)
	cA, cB := newCLI(t), newCLI(t) // same SECRET_KEY, own data dirs
	cA.env["DATABASE_URL"], cB.env["DATABASE_URL"] = dbURL, dbURL
	s.srv = startServerProc(t, cA) // migrates; B then finds the schema, CA and signing key in place
	createStackUsers(t, cA)
	srvB := startServerProc(t, cB)
	s.login(t)
	s.enrollAndRun(t, srvB)

	db, err := store.Open(t.Context(), dbURL, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	a, err := db.AgentByID(t.Context(), s.agentID)
	if err != nil || a.Server == "" {
		t.Fatalf("the agent's server is not recorded: %+v %v", a, err)
	}
	testHostOperations(t, s.admin, s.op, s.appr, s.root, s.hostname)
	// Which server executed each request is the engines' race; A, told at
	// once by its own API, nearly always wins, and then B delivers.
	t.Logf("B delivered %d operations executed on A", strings.Count(srvB.logs.String(), "agent relay: delivering work executed on another server"))
	if items, err := db.RelayedWorkFor(t.Context(), a.Server); err != nil || len(items) != 0 {
		t.Errorf("relayed work left behind: %+v %v", items, err)
	}
}
