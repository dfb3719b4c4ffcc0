package aws

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"

	"github.com/nexplane/nexplane/app"
)

// mapErr turns an SDK error into an app error whose message says what we
// were doing and what AWS answered. AWS error messages name entities
// (users, keys, policies) but never secrets, so they are safe to show; the
// request itself (which could carry a secret) is never quoted.
func (c *conn) mapErr(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return app.Wrap(app.EUNAVAILABLE, err, "%s: %s", what, netProblem(ctx, ctx.Err()))
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code, msg := api.ErrorCode(), strings.TrimSpace(api.ErrorMessage())
		answer := code
		if msg != "" {
			answer = code + ": " + msg
		}
		switch {
		case credentialCodes[code]:
			return app.Wrap(app.EUNAVAILABLE, err, "%s: AWS rejected the credentials (%s); check access_key_id and secret_access_key, and that the key is active", what, code)
		case code == "AccessDenied" || code == "AccessDeniedException" || code == "UnauthorizedOperation":
			return app.Wrap(app.EFORBIDDEN, err, "%s: AWS denied it (%s); grant the connector's identity this IAM permission", what, answer)
		case throttleCodes[code]:
			return app.Wrap(app.ERATELIMITED, err, "%s: AWS throttled the request (%s) and it still failed after %d attempts with backoff; try again later", what, code, maxAttempts)
		case code == "NoSuchEntity":
			return app.Wrap(app.ENOTFOUND, err, "%s: not found (%s)", what, answer)
		case code == "LimitExceeded":
			return app.Wrap(app.ECONFLICT, err, "%s: an AWS limit would be exceeded (%s)", what, answer)
		case code == "EntityAlreadyExists" || code == "DeleteConflict" || code == "ConcurrentModification":
			return app.Wrap(app.ECONFLICT, err, "%s: %s", what, answer)
		case code == "InvalidInput" || code == "ValidationError" || code == "MalformedPolicyDocument" ||
			code == "InvalidParameterValue" || code == "PolicyNotAttachable" || code == "MissingParameter":
			return app.Wrap(app.EINVALID, err, "%s: AWS refused it (%s)", what, answer)
		}
		return app.Wrap(app.EUNAVAILABLE, err, "%s: AWS answered %s", what, answer)
	}
	var attempts *retry.MaxAttemptsError
	if ne := netProblem(ctx, err); ne != "" {
		if errors.As(err, &attempts) {
			ne += fmt.Sprintf(" (after %d attempts)", attempts.Attempt)
		}
		return app.Wrap(app.EUNAVAILABLE, err, "%s: cannot reach %s: %s", what, hostOf(err, c.endpoint()), ne)
	}
	return app.Wrap(app.EUNAVAILABLE, err, "%s: the request failed: %s", what, err)
}

var credentialCodes = map[string]bool{
	"InvalidClientTokenId": true, "SignatureDoesNotMatch": true, "UnrecognizedClientException": true,
	"InvalidAccessKeyId": true, "ExpiredToken": true, "ExpiredTokenException": true, "IncompleteSignature": true,
}

var throttleCodes = map[string]bool{
	"Throttling": true, "ThrottlingException": true, "ThrottledException": true, "RequestLimitExceeded": true,
	"TooManyRequestsException": true, "RequestThrottled": true, "RequestThrottledException": true,
	"SlowDown": true, "PriorRequestNotComplete": true,
}

// isCredentialRejection says AWS refused who we are (not what we asked).
func isCredentialRejection(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && credentialCodes[api.ErrorCode()]
}

// hostOf names the endpoint a transport error was about.
func hostOf(err error, fallback string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		if u, perr := url.Parse(ue.URL); perr == nil && u.Host != "" {
			return u.Scheme + "://" + u.Host
		}
	}
	return fallback
}

// netProblem describes a transport failure in a few words, or "" when err
// is not one.
func netProblem(ctx context.Context, err error) string {
	var dnsErr *net.DNSError
	var sysErr *os.SyscallError
	var opErr *net.OpError
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return "cancelled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timed out"
	case errors.As(err, &dnsErr):
		return "cannot resolve host " + dnsErr.Name + ": " + dnsErr.Err
	case errors.As(err, &sysErr):
		return sysErr.Err.Error() // "connection refused", without "dial tcp …: connect:"
	case errors.As(err, &opErr):
		return opErr.Err.Error()
	}
	return ""
}

// partial reports a multi-step change that stopped half-way: what was
// already done, then what failed, keeping the failure's code and cause.
func partial(err error, format string, args ...any) error {
	return app.Wrap(app.ErrCode(err), err, "%s: %s", fmt.Sprintf(format, args...), app.ErrMessage(err))
}
