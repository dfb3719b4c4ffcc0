package aws

import (
	"context"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/nexplane/nexplane/app"
)

var _ app.AssetReader = (*conn)(nil)

// ReadAssets reads the users, access keys and groups refs name, each as
// Inventory reports it; one IAM no longer has (NoSuchEntity) is left out.
// A user or group is named by its ARN or its name; a key by its id (IAM
// tells whose it is).
func (c *conn) ReadAssets(ctx context.Context, refs []app.AssetRef) ([]app.Observation, error) {
	var out []app.Observation
	for _, r := range refs {
		var o *app.Observation
		var err error
		switch r.Kind {
		case KindUser:
			o, err = c.readUser(ctx, nameOf(r.ExternalID))
		case KindAccessKey:
			o, err = c.readKey(ctx, r.ExternalID)
		case KindGroup:
			o, err = c.readGroup(ctx, nameOf(r.ExternalID))
		default:
			continue // not an IAM asset: nothing of it here
		}
		if app.ErrCode(err) == app.ENOTFOUND {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, *o)
	}
	return out, nil
}

// nameOf is the name in a user or group ARN
// (arn:aws:iam::123456789012:user/path/name), or s itself.
func nameOf(s string) string {
	if !strings.HasPrefix(s, "arn:") {
		return s
	}
	return s[strings.LastIndex(s, "/")+1:]
}

func (c *conn) readUser(ctx context.Context, name string) (*app.Observation, error) {
	u, err := call(ctx, c, "reading IAM user "+name, func(ctx context.Context) (*iam.GetUserOutput, error) {
		return c.iam.GetUser(ctx, &iam.GetUserInput{UserName: aws.String(name)})
	})
	if err != nil {
		return nil, err
	}
	o, err := c.userObservation(ctx, *u.User)
	return &o, err
}

// readKey finds the key's user through its last use, then the key among
// the user's keys: a deleted key is unknown to the first or missing from
// the second.
func (c *conn) readKey(ctx context.Context, id string) (*app.Observation, error) {
	lu, err := c.keyLastUsed(ctx, id)
	if err != nil {
		return nil, err
	}
	user := aws.ToString(lu.UserName)
	k, _, err := c.findKey(ctx, user, id)
	if err != nil {
		return nil, err
	}
	o := keyObservation(user, *k, lu)
	return &o, nil
}

func (c *conn) readGroup(ctx context.Context, name string) (*app.Observation, error) {
	g, err := call(ctx, c, "reading IAM group "+name, func(ctx context.Context) (*iam.GetGroupOutput, error) {
		return c.iam.GetGroup(ctx, &iam.GetGroupInput{GroupName: aws.String(name), MaxItems: aws.Int32(1)})
	})
	if err != nil {
		return nil, err
	}
	o, err := c.observeGroup(ctx, *g.Group)
	return &o, err
}
