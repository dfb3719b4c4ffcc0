package aws

import (
	"regexp"

	"github.com/nexplane/nexplane/app"
)

// Parameter alphabets, as IAM defines them. They are checked before any
// call so a typo is an "invalid" error in the form, not an AWS error later.
var (
	userNameRE  = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	groupNameRE = regexp.MustCompile(`^[\w+=,.@-]{1,128}$`)
	accessKeyRE = regexp.MustCompile(`^[A-Z0-9]{16,128}$`)
	policyARNRE = regexp.MustCompile(`^arn:aws[\w-]*:iam::(aws|\d{12}):policy/[\w+=,.@/-]{1,512}$`)
)

func validateUserName(s string) error {
	if s == "" {
		return app.Errorf(app.EINVALID, "user_name is required")
	}
	if !userNameRE.MatchString(s) {
		return app.Errorf(app.EINVALID, "user_name %q is not an IAM user name: use 1 to 64 of A-Z a-z 0-9 _ + = , . @ -", s)
	}
	return nil
}

func validateGroupName(s string) error {
	if s == "" {
		return app.Errorf(app.EINVALID, "group_name is required")
	}
	if !groupNameRE.MatchString(s) {
		return app.Errorf(app.EINVALID, "group_name %q is not an IAM group name: use 1 to 128 of A-Z a-z 0-9 _ + = , . @ -", s)
	}
	return nil
}

func validateAccessKeyID(s string) error {
	if s == "" {
		return app.Errorf(app.EINVALID, "access_key_id is required")
	}
	if !accessKeyRE.MatchString(s) {
		// Not echoed: a value that fails here may be a pasted secret.
		return app.Errorf(app.EINVALID, "access_key_id is not an access key id: use 16 to 128 of A-Z 0-9, like AKIAIOSFODNN7EXAMPLE (never paste the secret here)")
	}
	return nil
}

func validatePolicyARN(s string) error {
	if s == "" {
		return app.Errorf(app.EINVALID, "policy_arn is required")
	}
	if !policyARNRE.MatchString(s) {
		return app.Errorf(app.EINVALID, "policy_arn %q is not a managed policy ARN like arn:aws:iam::aws:policy/ReadOnlyAccess or arn:aws:iam::123456789012:policy/path/name", clip(s))
	}
	return nil
}

// clip shortens an echoed bad value so an error stays one readable line.
func clip(s string) string {
	const max = 24
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

func validateUserKey(user, key string) error {
	if err := validateUserName(user); err != nil {
		return err
	}
	return validateAccessKeyID(key)
}
