package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"testing"
)

func TestErrorCause(t *testing.T) {
	cause := fmt.Errorf("dial tcp 10.0.0.1:636: %w", fs.ErrPermission)
	wrapped := Wrap(EUNAVAILABLE, cause, "connector %q: cannot reach the directory", "corp")
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"direct", wrapped},
		{"wrapped again", fmt.Errorf("sync: %w", wrapped)},
		{"cause is an app error", Wrap(ECONFLICT, Errorf(ECONFLICT, "inner"), "outer")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ae *Error
			if !errors.As(tc.err, &ae) || ErrCode(tc.err) != ae.Code {
				t.Fatalf("errors.As(%v) found no *Error", tc.err)
			}
			if ErrCause(tc.err) == nil || !errors.Is(tc.err, ErrCause(tc.err)) {
				t.Errorf("cause of %v not in the chain", tc.err)
			}
			if strings.Contains(ErrMessage(tc.err), "dial tcp") || strings.Contains(ErrMessage(tc.err), "inner") ||
				strings.Contains(tc.err.Error(), "dial tcp") {
				t.Errorf("the cause reaches users: message %q, error %q", ErrMessage(tc.err), tc.err.Error())
			}
		})
	}
	if !errors.Is(wrapped, fs.ErrPermission) || errors.Is(wrapped, context.Canceled) {
		t.Error("errors.Is does not follow the cause")
	}
	if ErrMessage(wrapped) != `connector "corp": cannot reach the directory` {
		t.Errorf("message = %q", ErrMessage(wrapped))
	}
	if ErrCause(Errorf(EINVALID, "no cause")) != nil || ErrCause(errors.New("plain")) != nil {
		t.Error("ErrCause invented a cause")
	}

	// Logs get the cause.
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Error("failed", "err", wrapped)
	if !strings.Contains(buf.String(), "dial tcp 10.0.0.1:636") {
		t.Errorf("log line lacks the cause: %s", buf.String())
	}
}
