package hosts_test

import (
	"sync"
	"testing"

	"github.com/nexplane/nexplane/agent/ops"
	"github.com/nexplane/nexplane/app"
)

// TestResumedWorkIsReconciled: a resumed host operation runs under the
// same work id; an agent that finished it already answers from memory
// (duplicate), and that answer is the operation's reconciliation.
func TestResumedWorkIsReconciled(t *testing.T) {
	f := newFleet(t)
	c := f.connect(`{"labels":{"env":"prod"}}`)
	var mu sync.Mutex
	done := map[string]bool{}
	startAgent(t, f.hub, f.web1.ID, func(w ops.Work, op ops.Op, err error) *ops.Result {
		mu.Lock()
		defer mu.Unlock()
		res := okAgent(w, op, err)
		res.Duplicate = done[w.ID] // as the agent's memory of finished work does
		done[w.ID] = true
		return res
	})
	keyed := app.WithOperationKey(t.Context(), "00112233445566778899aabbccddeeff")
	for i, want := range []bool{false, true} {
		res, err := f.op("host.user.lock", `{"host":"web-1","name":"alice"}`).Execute(keyed, c)
		if err != nil {
			t.Fatal(err)
		}
		if res.Reconciled != want || res.Details["duplicate"] == nil == want {
			t.Errorf("run %d: reconciled %v, details %v; want reconciled %v", i, res.Reconciled, res.Details, want)
		}
	}
}
