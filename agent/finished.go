package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
)

// DefaultFinishedLimit is how many finished work ids the agent remembers.
// Redelivery happens within minutes of a reconnect, so 10,000 covers any
// realistic backlog while bounding the file to a few MB.
const DefaultFinishedLimit = 10000

// Entry states.
const (
	stateRunning = "running"
	stateDone    = "done"
)

type finishedEntry struct {
	ID     string     `json:"id"`
	State  string     `json:"state"`
	At     time.Time  `json:"at"`
	Result ops.Result `json:"result"`
}

// finishedStore remembers work ids and their results on disk. An id is
// recorded as running before its operation starts, so even a crash
// mid-operation cannot lead to a second run after redelivery.
type finishedStore struct {
	mu      sync.Mutex
	path    string
	limit   int
	entries []finishedEntry // oldest first
	index   map[string]int  // id -> position in entries
}

func openFinished(dir string, limit int) (*finishedStore, error) {
	if limit <= 0 {
		limit = DefaultFinishedLimit
	}
	f := &finishedStore{path: filepath.Join(dir, finishedFile), limit: limit}
	b, err := os.ReadFile(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("read finished ids: %w", err)
	default:
		if err := json.Unmarshal(b, &f.entries); err != nil {
			return nil, fmt.Errorf("parse %s: %w", f.path, err)
		}
	}
	f.trim()
	return f, nil
}

func (f *finishedStore) trim() {
	if over := len(f.entries) - f.limit; over > 0 {
		f.entries = append([]finishedEntry(nil), f.entries[over:]...)
	}
	f.index = make(map[string]int, len(f.entries))
	for i, e := range f.entries {
		f.index[e.ID] = i
	}
}

// Lookup returns the recorded outcome of id as a duplicate result. An id
// left running by an earlier process is reported as interrupted.
func (f *finishedStore) Lookup(id string) (ops.Result, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i, ok := f.index[id]
	if !ok {
		return ops.Result{}, false
	}
	e := f.entries[i]
	res := e.Result
	if e.State != stateDone {
		res = ops.Result{ID: id, Error: "interrupted: the agent stopped while this work item was running; it is not run again, check the host"}
	}
	res.ID, res.Duplicate = id, true
	return res, true
}

// Begin records id as running and persists it before anything executes.
func (f *finishedStore) Begin(id string) error {
	return f.put(finishedEntry{ID: id, State: stateRunning, At: time.Now().UTC(), Result: ops.Result{ID: id}})
}

// Finish records the result of a work item.
func (f *finishedStore) Finish(res ops.Result) error {
	return f.put(finishedEntry{ID: res.ID, State: stateDone, At: time.Now().UTC(), Result: res})
}

func (f *finishedStore) put(e finishedEntry) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i, ok := f.index[e.ID]; ok {
		f.entries[i] = e
	} else {
		f.entries = append(f.entries, e)
		f.trim()
	}
	b, err := json.Marshal(f.entries)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(f.path, b, 0o600); err != nil {
		return fmt.Errorf("persist finished ids: %w", err)
	}
	return nil
}
