package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nexplane/nexplane/agent/ops"
)

func TestFinishedStore(t *testing.T) {
	dir := t.TempDir()
	f, err := openFinished(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := f.Lookup("a"); ok {
		t.Fatal("empty store knows a")
	}
	for _, id := range []string{"a", "b", "c", "d"} {
		if err := f.Begin(id); err != nil {
			t.Fatal(err)
		}
		if err := f.Finish(ops.Result{ID: id, OK: true, Summary: "did " + id}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Begin("e"); err != nil { // crash while e runs
		t.Fatal(err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, finishedFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("finished.json mode %v", fi.Mode())
	}

	g, err := openFinished(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.entries) != 3 {
		t.Errorf("kept %d, limit 3", len(g.entries))
	}
	if _, ok := g.Lookup("a"); ok {
		t.Error("oldest id not dropped")
	}
	if r, ok := g.Lookup("d"); !ok || !r.Duplicate || !r.OK || r.Summary != "did d" {
		t.Errorf("d = %+v", r)
	}
	if r, ok := g.Lookup("e"); !ok || r.OK || !r.Duplicate || !strings.Contains(r.Error, "interrupted") {
		t.Errorf("interrupted e = %+v", r)
	}
}

func TestFinishedStoreCorruptFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, finishedFile), []byte("{not json"), 0o600)
	// Refuse to start rather than forget what ran.
	if _, err := openFinished(dir, 0); err == nil {
		t.Fatal("corrupt finished.json accepted")
	}
}

func BenchmarkFinishedPut(b *testing.B) {
	f, _ := openFinished(b.TempDir(), DefaultFinishedLimit)
	for i := range DefaultFinishedLimit {
		f.entries = append(f.entries, finishedEntry{ID: fmt.Sprint(i), State: stateDone})
	}
	f.trim()
	for i := 0; b.Loop(); i++ {
		_ = f.Finish(ops.Result{ID: fmt.Sprint("x", i), OK: true})
	}
}
