package app

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// ErrorCode classifies an error for callers; the HTTP layers map each code to
// one status in one table.
type ErrorCode string

const (
	EINVALID      ErrorCode = "invalid"
	ECREDENTIALS  ErrorCode = "credentials_required" // moving where stored credentials go needs them entered again
	EUNAUTHORIZED ErrorCode = "unauthorized"
	EFORBIDDEN    ErrorCode = "forbidden"
	ENOTFOUND     ErrorCode = "not_found"
	ECONFLICT     ErrorCode = "conflict"
	// EREVISIONMISMATCH refuses a decision on a revision of a change
	// request that is no longer its current one; CurrentRevision says which is.
	EREVISIONMISMATCH ErrorCode = "revision_mismatch"
	ERATELIMITED      ErrorCode = "rate_limited"
	EUNAVAILABLE      ErrorCode = "unavailable"
	EINTERNAL         ErrorCode = "internal"
)

// Error is an application error whose Message is safe to show to the user.
type Error struct {
	Code    ErrorCode
	Message string
	// RetryAfter, when set on ERATELIMITED, tells the caller when to retry.
	RetryAfter time.Duration
	// CurrentRevision, set on EREVISIONMISMATCH, is the change request's
	// revision now, so the caller can show it before deciding again.
	CurrentRevision int64
	// Cause is the underlying failure (a driver's or SDK's error), kept for
	// errors.Is/As and logs. Its text may name internals, so Error and
	// ErrMessage leave it out: only LogValue shows it.
	Cause error
}

// Error is the code and the safe message, never the cause: callers such as
// the engine record it where users read it.
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Unwrap exposes the cause to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Cause }

// LogValue adds the cause when the error is logged directly (slog "err", e).
func (e *Error) LogValue() slog.Value {
	if e.Cause == nil {
		return slog.StringValue(e.Error())
	}
	return slog.StringValue(e.Error() + " (cause: " + e.Cause.Error() + ")")
}

// Errorf builds an *Error with a user-safe message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an *Error with a user-safe message that keeps cause in its
// chain for errors.Is/As and logs; users see only the message.
func Wrap(code ErrorCode, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Cause: cause}
}

// ErrCurrentRevision returns the CurrentRevision of the first *Error in
// err's chain, 0 when there is none.
func ErrCurrentRevision(err error) int64 {
	var e *Error
	if errors.As(err, &e) {
		return e.CurrentRevision
	}
	return 0
}

// ErrCause returns the cause of the first *Error in err's chain, or nil.
func ErrCause(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e.Cause
	}
	return nil
}

// ErrCode returns the code of the first *Error in err's chain, or EINTERNAL
// for any other non-nil error.
func ErrCode(err error) ErrorCode {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrMessage returns a message safe to show: the *Error's message, or a
// generic one for internal errors (whose text may hold details we never leak).
func ErrMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred."
}
