package app

import (
	"errors"
	"fmt"
	"time"
)

// ErrorCode classifies an error for callers; the HTTP layers map each code to
// one status in one table.
type ErrorCode string

const (
	EINVALID      ErrorCode = "invalid"
	EUNAUTHORIZED ErrorCode = "unauthorized"
	EFORBIDDEN    ErrorCode = "forbidden"
	ENOTFOUND     ErrorCode = "not_found"
	ECONFLICT     ErrorCode = "conflict"
	ERATELIMITED  ErrorCode = "rate_limited"
	EUNAVAILABLE  ErrorCode = "unavailable"
	EINTERNAL     ErrorCode = "internal"
)

// Error is an application error whose Message is safe to show to the user.
type Error struct {
	Code    ErrorCode
	Message string
	// RetryAfter, when set on ERATELIMITED, tells the caller when to retry.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf builds an *Error with a user-safe message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
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
