package aws

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/nexplane/nexplane/app"
)

// attachedPolicies lists a user's managed policies (unknown user: ENOTFOUND).
func (c *conn) attachedPolicies(ctx context.Context, user string) ([]types.AttachedPolicy, error) {
	var out []types.AttachedPolicy
	p := iam.NewListAttachedUserPoliciesPaginator(c.iam, &iam.ListAttachedUserPoliciesInput{UserName: aws.String(user)})
	for p.HasMorePages() {
		page, err := call(ctx, c, "listing the policies attached to IAM user "+user, func(ctx context.Context) (*iam.ListAttachedUserPoliciesOutput, error) {
			return p.NextPage(ctx)
		})
		if err != nil {
			return nil, err
		}
		out = append(out, page.AttachedPolicies...)
	}
	return out, nil
}

func policiesPhrase(ps []types.AttachedPolicy) string {
	if len(ps) == 0 {
		return "no attached policies"
	}
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = aws.ToString(p.PolicyName)
	}
	return fmt.Sprintf("%d attached: %s", len(ps), strings.Join(names, ", "))
}

func hasPolicy(ps []types.AttachedPolicy, arn string) bool {
	for _, p := range ps {
		if aws.ToString(p.PolicyArn) == arn {
			return true
		}
	}
	return false
}

// PolicyAttach is aws.iam.user_policy.attach.
type PolicyAttach struct {
	UserName  string `json:"user_name"`
	PolicyARN string `json:"policy_arn"`
}

// PolicyDetach is aws.iam.user_policy.detach.
type PolicyDetach struct {
	UserName  string `json:"user_name"`
	PolicyARN string `json:"policy_arn"`
}

// Validate checks the user name and policy ARN.
func (o *PolicyAttach) Validate() error { return validateUserPolicy(o.UserName, o.PolicyARN) }

// Validate checks the user name and policy ARN.
func (o *PolicyDetach) Validate() error { return validateUserPolicy(o.UserName, o.PolicyARN) }

func validateUserPolicy(user, arn string) error {
	if err := validateUserName(user); err != nil {
		return err
	}
	return validatePolicyARN(arn)
}

// Affects is the user, by name.
func (o *PolicyAttach) Affects() []app.AssetRef { return []app.AssetRef{userRef(o.UserName)} }

// Affects is the user, by name.
func (o *PolicyDetach) Affects() []app.AssetRef { return []app.AssetRef{userRef(o.UserName)} }

// Plan says whether the policy will be attached, and warns about admin ones.
func (o *PolicyAttach) Plan(ctx context.Context, ac app.Conn) (string, error) {
	c, err := connOf(ac)
	if err != nil {
		return "", err
	}
	ps, err := c.attachedPolicies(ctx, o.UserName)
	if err != nil {
		return "", err
	}
	if hasPolicy(ps, o.PolicyARN) {
		return fmt.Sprintf("%s is already attached to IAM user %s; nothing will change.", o.PolicyARN, o.UserName), nil
	}
	warn := ""
	if isAdminPolicy(o.PolicyARN) {
		warn = " WARNING: this grants administrator-level access and will be reported as over-privileged."
	}
	return fmt.Sprintf("Will attach managed policy %s to IAM user %s (%s).%s", o.PolicyARN, o.UserName, policiesPhrase(ps), warn), nil
}

// Execute attaches; an attached policy is "no change".
func (o *PolicyAttach) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, err
	}
	ps, err := c.attachedPolicies(ctx, o.UserName)
	if err != nil {
		return nil, err
	}
	details := map[string]any{"user_name": o.UserName, "policy_arn": o.PolicyARN, "changed": !hasPolicy(ps, o.PolicyARN)}
	if hasPolicy(ps, o.PolicyARN) {
		return &app.OpResult{Summary: fmt.Sprintf("%s was already attached to %s; no change", o.PolicyARN, o.UserName), Details: details}, nil
	}
	_, err = call(ctx, c, fmt.Sprintf("attaching %s to IAM user %s", o.PolicyARN, o.UserName), func(ctx context.Context) (*iam.AttachUserPolicyOutput, error) {
		return c.iam.AttachUserPolicy(ctx, &iam.AttachUserPolicyInput{UserName: aws.String(o.UserName), PolicyArn: aws.String(o.PolicyARN)})
	})
	if err != nil {
		return nil, err
	}
	return &app.OpResult{Summary: fmt.Sprintf("attached %s to IAM user %s", o.PolicyARN, o.UserName), Details: details, Affects: o.Affects()}, nil
}

// Plan says whether the policy will be detached.
func (o *PolicyDetach) Plan(ctx context.Context, ac app.Conn) (string, error) {
	c, err := connOf(ac)
	if err != nil {
		return "", err
	}
	ps, err := c.attachedPolicies(ctx, o.UserName)
	if err != nil {
		return "", err
	}
	if !hasPolicy(ps, o.PolicyARN) {
		return fmt.Sprintf("%s is not attached to IAM user %s (%s); nothing will change.", o.PolicyARN, o.UserName, policiesPhrase(ps)), nil
	}
	return fmt.Sprintf("Will detach managed policy %s from IAM user %s (%s); permissions it grants through groups or other policies remain.", o.PolicyARN, o.UserName, policiesPhrase(ps)), nil
}

// Execute detaches; a policy that is not attached is "no change".
func (o *PolicyDetach) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, err
	}
	ps, err := c.attachedPolicies(ctx, o.UserName)
	if err != nil {
		return nil, err
	}
	details := map[string]any{"user_name": o.UserName, "policy_arn": o.PolicyARN, "changed": hasPolicy(ps, o.PolicyARN)}
	if !hasPolicy(ps, o.PolicyARN) {
		return &app.OpResult{Summary: fmt.Sprintf("%s was not attached to %s; no change", o.PolicyARN, o.UserName), Details: details}, nil
	}
	_, err = call(ctx, c, fmt.Sprintf("detaching %s from IAM user %s", o.PolicyARN, o.UserName), func(ctx context.Context) (*iam.DetachUserPolicyOutput, error) {
		return c.iam.DetachUserPolicy(ctx, &iam.DetachUserPolicyInput{UserName: aws.String(o.UserName), PolicyArn: aws.String(o.PolicyARN)})
	})
	if err != nil {
		return nil, err
	}
	return &app.OpResult{Summary: fmt.Sprintf("detached %s from IAM user %s", o.PolicyARN, o.UserName), Details: details, Affects: o.Affects()}, nil
}
