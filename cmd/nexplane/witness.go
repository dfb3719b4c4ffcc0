package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"github.com/nexplane/nexplane/app"
)

// checkWitnessPath makes a bad NEXPLANE_AUDIT_WITNESS a configuration
// error at start rather than a failed append later.
func checkWitnessPath(path string) error {
	if !filepath.IsAbs(path) {
		return configErr("NEXPLANE_AUDIT_WITNESS %s: must be an absolute path", path)
	}
	dir, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return configErr("NEXPLANE_AUDIT_WITNESS %s: its directory: %v", path, errors.Unwrap(err))
	}
	if !dir.IsDir() {
		return configErr("NEXPLANE_AUDIT_WITNESS %s: %s is not a directory", path, filepath.Dir(path))
	}
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return configErr("NEXPLANE_AUDIT_WITNESS %s: not a regular file", path)
	}
	return nil
}

// witnessFile appends every checkpoint the server stores to a file outside
// the database, in the line format `audit verify --witness` reads. Each
// server keeps its own (or shares one on a shared filesystem): lines are
// idempotent by seq.
type witnessFile struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	lastSeq int64 // newest seq appended, -1 before the first
	lastErr string
}

// Append writes c as one line and fsyncs it; a failure is logged and shown
// in /readyz, never stops the audit log.
func (w *witnessFile) Append(c *app.Checkpoint) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := appendLine(w.path, c.MarshalLine()); err != nil {
		w.lastErr = err.Error()
		w.log.Error("AUDIT WITNESS NOT WRITTEN: the checkpoint exists only in the database",
			"path", w.path, "seq", c.Seq, "err", err)
		return
	}
	w.lastSeq, w.lastErr = c.Seq, ""
}

// status is the witness part of /readyz.
func (w *witnessFile) status() map[string]any {
	w.mu.Lock()
	defer w.mu.Unlock()
	return map[string]any{"path": w.path, "ok": w.lastErr == "", "last_seq": w.lastSeq, "last_error": w.lastErr}
}

func appendLine(path, line string) (err error) {
	_, statErr := os.Stat(path)
	created := errors.Is(statErr, fs.ErrNotExist)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("open witness: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close witness: %w", cerr)
		}
	}()
	if _, err := f.WriteString(line + "\n"); err != nil {
		return fmt.Errorf("write witness: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync witness: %w", err)
	}
	if created {
		// The new name must survive a crash as well as its contents.
		d, err := os.Open(filepath.Dir(path))
		if err != nil {
			return fmt.Errorf("sync witness directory: %w", err)
		}
		defer d.Close()
		if err := d.Sync(); err != nil {
			return fmt.Errorf("sync witness directory: %w", err)
		}
	}
	return nil
}

// dropTornLine removes a last line that a crash cut short: every line is
// written with its newline in one append and fsynced, so bytes after the
// last newline are a write that never completed. Left in place, they would
// stop the server from starting and join the next line. It reports how
// many bytes it removed.
func dropTornLine(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("open witness: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.Size() == 0 {
		return 0, err
	}
	// Lines are a few hundred bytes: the last newline is in the final 64 KiB.
	start := max(0, st.Size()-64<<10)
	tail := make([]byte, st.Size()-start)
	if _, err := f.ReadAt(tail, start); err != nil {
		return 0, fmt.Errorf("read witness: %w", err)
	}
	if tail[len(tail)-1] == '\n' {
		return 0, nil
	}
	keep := start + int64(bytes.LastIndexByte(tail, '\n')+1)
	if err := f.Truncate(keep); err != nil {
		return 0, fmt.Errorf("drop torn witness line: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("sync witness: %w", err)
	}
	return st.Size() - keep, nil
}

// startWitness compares the database with the witness file's newest line
// and refuses to start when the database is behind it or disagrees, unless
// accept (--accept-audit-rollback), which is audited. It then appends the
// database's newest checkpoint when the file lacks it.
func startWitness(ctx context.Context, e *env, d *deps, path string, accept bool) (*witnessFile, error) {
	w := &witnessFile{path: path, log: e.log, lastSeq: -1}
	if n, err := dropTornLine(path); err != nil {
		return nil, fmt.Errorf("audit witness %s: %w", path, err)
	} else if n > 0 {
		e.log.Warn("audit witness: dropped a line a crash cut short", "path", path, "bytes", n)
	}
	var lines []app.WitnessCheckpoint
	f, err := os.Open(path)
	switch {
	case err == nil:
		lines, err = app.ReadWitness(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("audit witness %s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("audit witness %s: %w", path, err)
	}
	if len(lines) > 0 {
		last := lines[len(lines)-1]
		w.lastSeq = last.Checkpoint.Seq
		head, err := d.svc.CheckWitnessHead(ctx, last)
		var brk *app.ChainBreak
		switch {
		case errors.As(err, &brk) && !accept:
			return nil, fmt.Errorf("audit witness %s: the database (head record %d, hash %s) is behind or disagrees with the witness (line %d: record %d, hash %s): %v; if this rollback is intended, start once with --accept-audit-rollback",
				path, head.Seq, head.Hash, last.Line, last.Checkpoint.Seq, last.Checkpoint.Hash, err)
		case brk != nil:
			e.log.Warn("starting on an audit log behind its witness (--accept-audit-rollback)", "witness", path,
				"witness_seq", last.Checkpoint.Seq, "witness_hash", last.Checkpoint.Hash,
				"database_seq", head.Seq, "database_hash", head.Hash, "break", err.Error())
			if err := d.svc.AcceptAuditRollback(ctx, app.SystemActor("server"), last, head, brk); err != nil {
				return nil, fmt.Errorf("record accepted audit rollback: %w", err)
			}
		case err != nil:
			return nil, fmt.Errorf("audit witness %s: %w", path, err)
		}
	}
	if _, err := d.svc.WriteCheckpoint(ctx, d.auditSigner); err != nil {
		return nil, err
	}
	newest, err := d.store.ListCheckpoints(ctx, 0, 1) // newest first
	if err != nil {
		return nil, fmt.Errorf("audit witness: newest checkpoint: %w", err)
	}
	if len(newest) > 0 && (len(lines) == 0 || newest[0].Seq != lines[len(lines)-1].Checkpoint.Seq ||
		newest[0].Hash != lines[len(lines)-1].Checkpoint.Hash) {
		w.Append(&newest[0])
	}
	return w, nil
}
