package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/nexplane/nexplane/app"
)

// groupsOf lists the names of a user's groups (unknown user: ENOTFOUND).
func (c *conn) groupsOf(ctx context.Context, user string) ([]string, error) {
	var out []string
	p := iam.NewListGroupsForUserPaginator(c.iam, &iam.ListGroupsForUserInput{UserName: aws.String(user)})
	for p.HasMorePages() {
		page, err := call(ctx, c, "listing the groups of IAM user "+user, func(ctx context.Context) (*iam.ListGroupsForUserOutput, error) {
			return p.NextPage(ctx)
		})
		if err != nil {
			return nil, err
		}
		for _, g := range page.Groups {
			out = append(out, aws.ToString(g.GroupName))
		}
	}
	return out, nil
}

// groupExists turns a missing group into an ENOTFOUND naming it.
func (c *conn) groupExists(ctx context.Context, group string) error {
	_, err := call(ctx, c, "reading IAM group "+group, func(ctx context.Context) (*iam.GetGroupOutput, error) {
		return c.iam.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String(group), MaxItems: aws.Int32(1)})
	})
	return err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// GroupAdd is aws.iam.user.add_to_group.
type GroupAdd struct {
	UserName  string `json:"user_name"`
	GroupName string `json:"group_name"`
}

// GroupRemove is aws.iam.user.remove_from_group.
type GroupRemove struct {
	UserName  string `json:"user_name"`
	GroupName string `json:"group_name"`
}

// Validate checks the user and group names.
func (o *GroupAdd) Validate() error { return validateUserGroup(o.UserName, o.GroupName) }

// Validate checks the user and group names.
func (o *GroupRemove) Validate() error { return validateUserGroup(o.UserName, o.GroupName) }

func validateUserGroup(user, group string) error {
	if err := validateUserName(user); err != nil {
		return err
	}
	return validateGroupName(group)
}

// Affects is the user, by name (group attributes do not list members).
func (o *GroupAdd) Affects() []app.AssetRef { return []app.AssetRef{userRef(o.UserName)} }

// Affects is the user, by name.
func (o *GroupRemove) Affects() []app.AssetRef { return []app.AssetRef{userRef(o.UserName)} }

func readMembership(ctx context.Context, ac app.Conn, user, group string) (*conn, []string, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, nil, err
	}
	if err := c.groupExists(ctx, group); err != nil {
		return nil, nil, err
	}
	groups, err := c.groupsOf(ctx, user)
	return c, groups, err
}

func groupsPhrase(gs []string) string {
	switch len(gs) {
	case 0:
		return "no groups"
	case 1:
		return "1 group: " + gs[0]
	}
	return fmt.Sprintf("%d groups", len(gs))
}

// Plan says whether the membership will be added or already exists.
func (o *GroupAdd) Plan(ctx context.Context, ac app.Conn) (string, error) {
	_, groups, err := readMembership(ctx, ac, o.UserName, o.GroupName)
	if err != nil {
		return "", err
	}
	if contains(groups, o.GroupName) {
		return fmt.Sprintf("IAM user %s is already in group %s; nothing will change.", o.UserName, o.GroupName), nil
	}
	return fmt.Sprintf("Will add IAM user %s (in %s) to group %s; the user gains the group's permissions.", o.UserName, groupsPhrase(groups), o.GroupName), nil
}

// Execute adds the user; an existing membership is "no change".
func (o *GroupAdd) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, groups, err := readMembership(ctx, ac, o.UserName, o.GroupName)
	if err != nil {
		return nil, err
	}
	member := contains(groups, o.GroupName)
	details := map[string]any{"user_name": o.UserName, "group_name": o.GroupName, "changed": !member}
	if member {
		return &app.OpResult{Summary: fmt.Sprintf("%s was already in group %s; no change", o.UserName, o.GroupName), Details: details}, nil
	}
	_, err = call(ctx, c, fmt.Sprintf("adding IAM user %s to group %s", o.UserName, o.GroupName), func(ctx context.Context) (*iam.AddUserToGroupOutput, error) {
		return c.iam.AddUserToGroup(ctx, &iam.AddUserToGroupInput{UserName: aws.String(o.UserName), GroupName: aws.String(o.GroupName)})
	})
	if err != nil {
		return nil, err
	}
	return &app.OpResult{Summary: fmt.Sprintf("added IAM user %s to group %s", o.UserName, o.GroupName), Details: details, Affects: o.Affects()}, nil
}

// Plan says whether the membership will be removed or does not exist.
func (o *GroupRemove) Plan(ctx context.Context, ac app.Conn) (string, error) {
	_, groups, err := readMembership(ctx, ac, o.UserName, o.GroupName)
	if err != nil {
		return "", err
	}
	if !contains(groups, o.GroupName) {
		return fmt.Sprintf("IAM user %s is not in group %s; nothing will change.", o.UserName, o.GroupName), nil
	}
	return fmt.Sprintf("Will remove IAM user %s from group %s (leaving %d other groups); the user loses the permissions it had only through that group.",
		o.UserName, o.GroupName, len(groups)-1), nil
}

// Execute removes the user; a missing membership is "no change".
func (o *GroupRemove) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, groups, err := readMembership(ctx, ac, o.UserName, o.GroupName)
	if err != nil {
		return nil, err
	}
	member := contains(groups, o.GroupName)
	details := map[string]any{"user_name": o.UserName, "group_name": o.GroupName, "changed": member}
	if !member {
		return &app.OpResult{Summary: fmt.Sprintf("%s was not in group %s; no change", o.UserName, o.GroupName), Details: details}, nil
	}
	_, err = call(ctx, c, fmt.Sprintf("removing IAM user %s from group %s", o.UserName, o.GroupName), func(ctx context.Context) (*iam.RemoveUserFromGroupOutput, error) {
		return c.iam.RemoveUserFromGroup(ctx, &iam.RemoveUserFromGroupInput{UserName: aws.String(o.UserName), GroupName: aws.String(o.GroupName)})
	})
	if err != nil {
		return nil, err
	}
	return &app.OpResult{Summary: fmt.Sprintf("removed IAM user %s from group %s", o.UserName, o.GroupName), Details: details, Affects: o.Affects()}, nil
}
