package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/nexplane/nexplane/app"
)

// maxKeysPerUser is AWS's fixed quota of access keys per IAM user.
const maxKeysPerUser = 2

// listKeys returns every access key of a user (an unknown user is ENOTFOUND).
func (c *conn) listKeys(ctx context.Context, user string) ([]types.AccessKeyMetadata, error) {
	return c.listKeysWith(ctx, c.iam, user)
}

func (c *conn) listKeysWith(ctx context.Context, ic *iam.Client, user string) ([]types.AccessKeyMetadata, error) {
	var out []types.AccessKeyMetadata
	p := iam.NewListAccessKeysPaginator(ic, &iam.ListAccessKeysInput{UserName: aws.String(user)})
	for p.HasMorePages() {
		page, err := call(ctx, c, "listing the access keys of IAM user "+user, func(ctx context.Context) (*iam.ListAccessKeysOutput, error) {
			return p.NextPage(ctx)
		})
		if err != nil {
			return nil, err
		}
		out = append(out, page.AccessKeyMetadata...)
	}
	return out, nil
}

// findKey returns the key with that id among the user's keys, and all of them.
func (c *conn) findKey(ctx context.Context, user, id string) (*types.AccessKeyMetadata, []types.AccessKeyMetadata, error) {
	keys, err := c.listKeys(ctx, user)
	if err != nil {
		return nil, nil, err
	}
	for i := range keys {
		if aws.ToString(keys[i].AccessKeyId) == id {
			return &keys[i], keys, nil
		}
	}
	return nil, keys, app.Errorf(app.ENOTFOUND, "IAM user %s has no access key %s (it has %s)", user, id, keysPhrase(keys))
}

// refuseOwnKey stops an operation that would cut the connector off from
// AWS: its own key is changed only by connector.rotate_credentials, which
// stores the replacement before deleting it.
func (c *conn) refuseOwnKey(id, doing string) error {
	if id == c.creds.current().AccessKeyID {
		return app.Errorf(app.ECONFLICT, "access key %s is this connector's own key; %s it would cut the connector off from AWS. Use connector.rotate_credentials instead", id, doing)
	}
	return nil
}

// refuseFull enforces AWS's two-keys limit before anything is created.
func refuseFull(user string, keys []types.AccessKeyMetadata, then string) error {
	if len(keys) >= maxKeysPerUser {
		return app.Errorf(app.ECONFLICT, "IAM user %s already has %d access keys (%s), which is AWS's limit; %s",
			user, len(keys), keysPhrase(keys), then)
	}
	return nil
}

func keysPhrase(keys []types.AccessKeyMetadata) string {
	if len(keys) == 0 {
		return "no access keys"
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %s, created %s", aws.ToString(k.AccessKeyId), k.Status, aws.ToTime(k.CreateDate).UTC().Format(time.DateOnly))
	}
	return strings.Join(parts, "; ")
}

func keyRef(id string) app.AssetRef { return app.AssetRef{Kind: KindAccessKey, ExternalID: id} }

// userRef names a user asset by its name (app matches refs by external id
// or name; user assets are keyed by ARN, which parameters do not carry).
func userRef(name string) app.AssetRef { return app.AssetRef{Kind: KindUser, ExternalID: name} }

// createKey makes a new key and returns its id and the Reveal JSON. The
// secret lives only in that JSON from here on.
func (c *conn) createKey(ctx context.Context, ic *iam.Client, user string) (string, []byte, error) {
	out, err := call(ctx, c, "creating an access key for IAM user "+user, func(ctx context.Context) (*iam.CreateAccessKeyOutput, error) {
		return ic.CreateAccessKey(ctx, &iam.CreateAccessKeyInput{UserName: aws.String(user)})
	})
	if err != nil {
		return "", nil, err
	}
	id := aws.ToString(out.AccessKey.AccessKeyId)
	reveal, err := json.Marshal(Credentials{AccessKeyID: id, SecretAccessKey: aws.ToString(out.AccessKey.SecretAccessKey)})
	if err != nil {
		return "", nil, fmt.Errorf("aws: encode new key: %w", err)
	}
	return id, reveal, nil
}

func (c *conn) setKeyStatus(ctx context.Context, user, id string, status types.StatusType) error {
	_, err := call(ctx, c, fmt.Sprintf("setting access key %s of IAM user %s to %s", id, user, status), func(ctx context.Context) (*iam.UpdateAccessKeyOutput, error) {
		return c.iam.UpdateAccessKey(ctx, &iam.UpdateAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(id), Status: status})
	})
	return err
}

func (c *conn) deleteKey(ctx context.Context, ic *iam.Client, user, id string) error {
	_, err := call(ctx, c, fmt.Sprintf("deleting access key %s of IAM user %s", id, user), func(ctx context.Context) (*iam.DeleteAccessKeyOutput, error) {
		return ic.DeleteAccessKey(ctx, &iam.DeleteAccessKeyInput{UserName: aws.String(user), AccessKeyId: aws.String(id)})
	})
	return err
}

// KeyCreate is aws.iam.access_key.create.
type KeyCreate struct {
	UserName string `json:"user_name"`
}

// Validate checks the user name.
func (o *KeyCreate) Validate() error { return validateUserName(o.UserName) }

// Affects is empty: the new key's id is only known after Execute, which
// names it in OpResult.Affects.
func (o *KeyCreate) Affects() []app.AssetRef { return nil }

// Plan refuses a user who already has two keys.
func (o *KeyCreate) Plan(ctx context.Context, ac app.Conn) (string, error) {
	c, err := connOf(ac)
	if err != nil {
		return "", err
	}
	keys, err := c.listKeys(ctx, o.UserName)
	if err != nil {
		return "", err
	}
	if err := refuseFull(o.UserName, keys, "delete one first (aws.iam.access_key.delete)"); err != nil {
		return "", err
	}
	return fmt.Sprintf("Will create a new active access key for IAM user %s, who now has %s. The secret is shown once to the requester and never stored in logs or the audit trail.",
		o.UserName, keysPhrase(keys)), nil
}

// Execute creates the key; its secret goes only into Reveal.
func (o *KeyCreate) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, err
	}
	keys, err := c.listKeys(ctx, o.UserName)
	if err != nil {
		return nil, err
	}
	if err := refuseFull(o.UserName, keys, "delete one first (aws.iam.access_key.delete)"); err != nil {
		return nil, err
	}
	id, reveal, err := c.createKey(ctx, c.iam, o.UserName)
	if err != nil {
		return nil, err
	}
	return &app.OpResult{
		Summary: fmt.Sprintf("created access key %s for IAM user %s; its secret is shown once to the requester", id, o.UserName),
		Details: map[string]any{"user_name": o.UserName, "access_key_id": id, "status": string(types.StatusTypeActive)},
		Reveal:  reveal,
		Affects: []app.AssetRef{keyRef(id)},
	}, nil
}

// KeyDeactivate is aws.iam.access_key.deactivate: the revoking operation.
type KeyDeactivate struct {
	UserName    string `json:"user_name"`
	AccessKeyID string `json:"access_key_id"`
}

// KeyActivate is aws.iam.access_key.activate.
type KeyActivate struct {
	UserName    string `json:"user_name"`
	AccessKeyID string `json:"access_key_id"`
}

// Validate checks the user name and key id.
func (o *KeyDeactivate) Validate() error { return validateUserKey(o.UserName, o.AccessKeyID) }

// Validate checks the user name and key id.
func (o *KeyActivate) Validate() error { return validateUserKey(o.UserName, o.AccessKeyID) }

// Affects is the key.
func (o *KeyDeactivate) Affects() []app.AssetRef { return []app.AssetRef{keyRef(o.AccessKeyID)} }

// Affects is the key.
func (o *KeyActivate) Affects() []app.AssetRef { return []app.AssetRef{keyRef(o.AccessKeyID)} }

// Plan says whether the key will be deactivated or already is.
func (o *KeyDeactivate) Plan(ctx context.Context, ac app.Conn) (string, error) {
	return planStatus(ctx, ac, o.UserName, o.AccessKeyID, types.StatusTypeInactive)
}

// Execute sets the key Inactive; an inactive key is "no change".
func (o *KeyDeactivate) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	return executeStatus(ctx, ac, o.UserName, o.AccessKeyID, types.StatusTypeInactive)
}

// Plan says whether the key will be activated or already is.
func (o *KeyActivate) Plan(ctx context.Context, ac app.Conn) (string, error) {
	return planStatus(ctx, ac, o.UserName, o.AccessKeyID, types.StatusTypeActive)
}

// Execute sets the key Active; an active key is "no change".
func (o *KeyActivate) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	return executeStatus(ctx, ac, o.UserName, o.AccessKeyID, types.StatusTypeActive)
}

func readStatus(ctx context.Context, ac app.Conn, user, id string, want types.StatusType) (*conn, *types.AccessKeyMetadata, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, nil, err
	}
	if want == types.StatusTypeInactive {
		if err := c.refuseOwnKey(id, "deactivating"); err != nil {
			return nil, nil, err
		}
	}
	k, _, err := c.findKey(ctx, user, id)
	return c, k, err
}

func planStatus(ctx context.Context, ac app.Conn, user, id string, want types.StatusType) (string, error) {
	_, k, err := readStatus(ctx, ac, user, id, want)
	if err != nil {
		return "", err
	}
	word := strings.ToLower(string(want))
	if k.Status == want {
		return fmt.Sprintf("Access key %s of IAM user %s is already %s; nothing will change.", id, user, word), nil
	}
	if want == types.StatusTypeInactive {
		return fmt.Sprintf("Will deactivate access key %s of IAM user %s (created %s): requests signed with it fail at once; it can be activated again, and deleting it is a separate operation.",
			id, user, aws.ToTime(k.CreateDate).UTC().Format(time.DateOnly)), nil
	}
	return fmt.Sprintf("Will activate access key %s of IAM user %s (created %s): requests signed with it work again.",
		id, user, aws.ToTime(k.CreateDate).UTC().Format(time.DateOnly)), nil
}

func executeStatus(ctx context.Context, ac app.Conn, user, id string, want types.StatusType) (*app.OpResult, error) {
	c, k, err := readStatus(ctx, ac, user, id, want)
	if err != nil {
		return nil, err
	}
	word := strings.ToLower(string(want))
	details := map[string]any{"user_name": user, "access_key_id": id, "status": string(want), "changed": k.Status != want}
	if k.Status == want {
		return &app.OpResult{Summary: fmt.Sprintf("access key %s of %s was already %s; no change", id, user, word), Details: details}, nil
	}
	if err := c.setKeyStatus(ctx, user, id, want); err != nil {
		return nil, err
	}
	verb := map[types.StatusType]string{types.StatusTypeActive: "activated", types.StatusTypeInactive: "deactivated"}[want]
	return &app.OpResult{Summary: fmt.Sprintf("%s access key %s of IAM user %s", verb, id, user), Details: details,
		Affects: []app.AssetRef{keyRef(id)}}, nil
}

// KeyDelete is aws.iam.access_key.delete.
type KeyDelete struct {
	UserName    string `json:"user_name"`
	AccessKeyID string `json:"access_key_id"`
}

// Validate checks the user name and key id.
func (o *KeyDelete) Validate() error { return validateUserKey(o.UserName, o.AccessKeyID) }

// Affects is the key.
func (o *KeyDelete) Affects() []app.AssetRef { return []app.AssetRef{keyRef(o.AccessKeyID)} }

func (o *KeyDelete) read(ctx context.Context, ac app.Conn) (*conn, *types.AccessKeyMetadata, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, nil, err
	}
	if err := c.refuseOwnKey(o.AccessKeyID, "deleting"); err != nil {
		return nil, nil, err
	}
	k, _, err := c.findKey(ctx, o.UserName, o.AccessKeyID)
	return c, k, err
}

// Plan names the key and warns when it is still active.
func (o *KeyDelete) Plan(ctx context.Context, ac app.Conn) (string, error) {
	_, k, err := o.read(ctx, ac)
	if err != nil {
		return "", err
	}
	warn := "It is inactive, so nothing should still depend on it."
	if k.Status == types.StatusTypeActive {
		warn = "It is ACTIVE: anything still signing with it fails at once. Deactivate it first if you are not sure nothing uses it."
	}
	return fmt.Sprintf("Will permanently delete access key %s of IAM user %s (created %s). %s",
		o.AccessKeyID, o.UserName, aws.ToTime(k.CreateDate).UTC().Format(time.DateOnly), warn), nil
}

// Execute deletes the key. A key that no longer exists is a not-found
// error, so a typo never passes as success.
func (o *KeyDelete) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, k, err := o.read(ctx, ac)
	if err != nil {
		return nil, err
	}
	if err := c.deleteKey(ctx, c.iam, o.UserName, o.AccessKeyID); err != nil {
		return nil, err
	}
	return &app.OpResult{
		Summary: fmt.Sprintf("deleted access key %s of IAM user %s", o.AccessKeyID, o.UserName),
		Details: map[string]any{"user_name": o.UserName, "access_key_id": o.AccessKeyID, "status_before": string(k.Status)},
		Affects: []app.AssetRef{keyRef(o.AccessKeyID)},
	}, nil
}
