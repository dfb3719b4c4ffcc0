package aws

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/nexplane/nexplane/app"
)

// Rotation timing. New IAM keys can take a few seconds to be accepted
// everywhere (IAM is eventually consistent), so a rotated key is retried
// for up to defaultVerifyTimeout before it is declared broken. Compensation after
// a failure gets its own budget, since the failure may be ctx's end.
const (
	defaultVerifyTimeout = 30 * time.Second
	compensateDeadline   = 30 * time.Second
)

// KeyRotate is aws.iam.access_key.rotate: create a new key (secret shown
// once), then deactivate the old one. Deleting the old key is a separate
// operation, once nothing uses it any more.
type KeyRotate struct {
	UserName    string `json:"user_name"`
	AccessKeyID string `json:"access_key_id"` // the old key
}

// Validate checks the user name and key id.
func (o *KeyRotate) Validate() error { return validateUserKey(o.UserName, o.AccessKeyID) }

// Affects is the old key (deactivated); the new key's id is only known
// after Execute (details: new_access_key_id).
func (o *KeyRotate) Affects() []app.AssetRef { return []app.AssetRef{keyRef(o.AccessKeyID)} }

// read checks everything that would make the rotation fail before anything
// is created: the old key exists, it is not the connector's own, and the
// user has room for a second key.
func (o *KeyRotate) read(ctx context.Context, ac app.Conn) (*conn, *types.AccessKeyMetadata, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, nil, err
	}
	if err := c.refuseOwnKey(o.AccessKeyID, "rotating it with this operation (which deactivates it)"); err != nil {
		return nil, nil, err
	}
	old, keys, err := c.findKey(ctx, o.UserName, o.AccessKeyID)
	if err != nil {
		return nil, nil, err
	}
	if err := refuseFull(o.UserName, keys, "a rotation needs room for the new key: delete the other key first (aws.iam.access_key.delete), then rotate"); err != nil {
		return nil, nil, err
	}
	return c, old, nil
}

// Plan says what will be created and deactivated.
func (o *KeyRotate) Plan(ctx context.Context, ac app.Conn) (string, error) {
	_, old, err := o.read(ctx, ac)
	if err != nil {
		return "", err
	}
	then := "then deactivate the old key " + o.AccessKeyID
	if old.Status == types.StatusTypeInactive {
		then = "the old key " + o.AccessKeyID + " is already inactive and stays so"
	}
	return fmt.Sprintf("Will create a new access key for IAM user %s (its secret is shown once to the requester), %s (created %s). Deleting the old key is a separate operation (aws.iam.access_key.delete) once nothing uses it.",
		o.UserName, then, oldCreated(old)), nil
}

func oldCreated(k *types.AccessKeyMetadata) string {
	if k.CreateDate == nil {
		return "at an unknown date"
	}
	return k.CreateDate.UTC().Format(time.DateOnly)
}

// Execute creates, then deactivates. If deactivating fails, the new key is
// deleted again before the error is returned: a failed operation's Reveal
// is not kept, so a new key left behind would have a secret nobody has.
func (o *KeyRotate) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, old, err := o.read(ctx, ac)
	if err != nil {
		return nil, err
	}
	newID, reveal, err := c.createKey(ctx, c.iam, o.UserName)
	if err != nil {
		return nil, err
	}
	if old.Status != types.StatusTypeInactive {
		if err := c.setKeyStatus(ctx, o.UserName, o.AccessKeyID, types.StatusTypeInactive); err != nil {
			return nil, c.undoCreate(ctx, c.iam, o.UserName, newID, err,
				fmt.Sprintf("rotating access key %s of IAM user %s: created new key %s, but deactivating the old key failed, so the old key is still active", o.AccessKeyID, o.UserName, newID))
		}
	}
	return &app.OpResult{
		Summary: fmt.Sprintf("rotated access key %s of IAM user %s: created %s (secret shown once to the requester) and deactivated %s; delete %s with aws.iam.access_key.delete once nothing uses it",
			o.AccessKeyID, o.UserName, newID, o.AccessKeyID, o.AccessKeyID),
		Details: map[string]any{"user_name": o.UserName, "new_access_key_id": newID, "old_access_key_id": o.AccessKeyID, "old_status": string(types.StatusTypeInactive)},
		Reveal:  reveal,
		Affects: []app.AssetRef{keyRef(o.AccessKeyID), keyRef(newID)},
	}, nil
}

// undoCreate deletes a key created by a step that then failed, and returns
// an error that tells the whole story: what was done, what failed, and
// whether the new key is gone or must be deleted by hand.
func (c *conn) undoCreate(ctx context.Context, ic *iam.Client, user, newID string, cause error, story string) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), compensateDeadline)
	defer cancel()
	if delErr := c.deleteKey(cctx, ic, user, newID); delErr != nil {
		return app.Wrap(app.ErrCode(cause), cause,
			"%s (%s); deleting the new key again failed too (%s): IAM user %s still has the new key %s, whose secret was never shown (delete it with aws.iam.access_key.delete)",
			story, app.ErrMessage(cause), app.ErrMessage(delErr), user, newID)
	}
	return app.Wrap(app.ErrCode(cause), cause, "%s (%s); the new key %s was deleted again, so nothing changed: try again once the cause is fixed",
		story, app.ErrMessage(cause), newID)
}

// RotateCredentials is connector.rotate_credentials for AWS: a new key for
// the connector's own IAM user, proven, stored, and the old one deleted.
type RotateCredentials struct{}

// Validate has nothing to check.
func (o *RotateCredentials) Validate() error { return nil }

// Affects is empty: the connector's own key id is in its sealed
// credentials, not in the parameters; OpResult.Affects names both keys.
func (o *RotateCredentials) Affects() []app.AssetRef { return nil }

// selfUser finds the IAM user behind the stored key. Root keys and
// temporary credentials cannot be rotated through IAM's user APIs.
func (c *conn) selfUser(ctx context.Context) (string, *identity, error) {
	id, err := c.whoami(ctx, c.selfIAM, c.selfSTS)
	if err != nil {
		return "", nil, err
	}
	res := ""
	if p := strings.SplitN(id.ARN, ":", 6); len(p) == 6 {
		res = p[5]
	}
	switch {
	case res == "root":
		return "", nil, app.Errorf(app.ECONFLICT, "the connector's key belongs to the account's root user (%s); root keys cannot be rotated through IAM and should not be used at all: create an IAM user for Nexplane and store its key", id.ARN)
	case strings.HasPrefix(res, "user/"):
		return res[strings.LastIndex(res, "/")+1:], id, nil
	}
	return "", nil, app.Errorf(app.ECONFLICT, "the connector's credentials are not an IAM user's key (they authenticate as %s); only an IAM user's access key can be rotated", id.ARN)
}

func (o *RotateCredentials) read(ctx context.Context, c *conn) (string, *identity, string, error) {
	user, id, err := c.selfUser(ctx)
	if err != nil {
		return "", nil, "", err
	}
	oldID := c.creds.current().AccessKeyID
	// The stored key itself manages its own user's keys (self-service),
	// whatever role the other calls assume.
	keys, err := c.listKeysWith(ctx, c.selfIAM, user)
	if err != nil {
		return "", nil, "", err
	}
	if err := refuseFull(user, keys, "the rotation needs room for the new key: delete the connector user's other key first (aws.iam.access_key.delete)"); err != nil {
		return "", nil, "", err
	}
	return user, id, oldID, nil
}

// Plan names the user and the key that will be replaced.
func (o *RotateCredentials) Plan(ctx context.Context, ac app.Conn) (string, error) {
	c, err := connOf(ac)
	if err != nil {
		return "", err
	}
	user, id, oldID, err := o.read(ctx, c)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Will create a new access key for the connector's own IAM user %s (%s), check that it authenticates, store it as this connector's credentials, then delete the current key %s.",
		user, id.ARN, oldID), nil
}

// Execute creates, verifies, swaps and deletes, in that order, so the
// connector always holds a working key: a key that fails verification is
// deleted again and the old one kept; once the new one works it is
// returned as NewCredentials even if deleting the old key fails (that is
// reported, for a later aws.iam.access_key.delete).
func (o *RotateCredentials) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, err
	}
	user, id, oldID, err := o.read(ctx, c)
	if err != nil {
		return nil, err
	}
	newID, creds, err := c.createKey(ctx, c.selfIAM, user)
	if err != nil {
		return nil, err
	}
	var fresh Credentials
	if err := json.Unmarshal(creds, &fresh); err != nil {
		return nil, fmt.Errorf("aws: decode new key: %w", err)
	}
	if err := c.verifyKey(ctx, fresh, id.ARN); err != nil {
		return nil, c.undoCreate(ctx, c.selfIAM, user, newID, err,
			fmt.Sprintf("rotating the connector's key: created new key %s for IAM user %s, but it did not authenticate as %s, so the current key %s is kept", newID, user, id.ARN, oldID))
	}
	// From here the new key is the connector's: later calls on this
	// connection, the deletion below included, are signed with it.
	c.creds.v.Store(&fresh)
	details := map[string]any{"user_name": user, "new_access_key_id": newID, "old_access_key_id": oldID, "verified": true}
	if err := c.deleteKey(ctx, c.selfIAM, user, oldID); err != nil {
		details["old_key_deleted"] = false
		return &app.OpResult{
			Summary: fmt.Sprintf("rotated the connector's key: new key %s of IAM user %s authenticates and is stored, but deleting the old key %s failed (%s); it is still active: delete it with aws.iam.access_key.delete",
				newID, user, oldID, app.ErrMessage(err)),
			Details: details, NewCredentials: creds, Affects: []app.AssetRef{keyRef(oldID), keyRef(newID)},
		}, nil
	}
	details["old_key_deleted"] = true
	return &app.OpResult{
		Summary: fmt.Sprintf("rotated the connector's key: new key %s of IAM user %s authenticates and is stored; deleted the old key %s", newID, user, oldID),
		Details: details, NewCredentials: creds, Affects: []app.AssetRef{keyRef(oldID), keyRef(newID)},
	}, nil
}

// verifyKey signs fresh requests with the new key until they authenticate
// as want, retrying credential rejections for c.verifyTimeout. The window
// bounds when a retry may start, not the attempt in flight (each call has its
// own requestTimeout): cutting off a slow first answer would report "timed
// out" where the real story is the rejection that answer carries.
func (c *conn) verifyKey(ctx context.Context, k Credentials, want string) error {
	deadline := time.Now().Add(c.verifyTimeout)
	ic, sc := c.newSelfClients(k)
	for {
		got, err := c.whoami(ctx, ic, sc)
		switch {
		case err == nil && got.ARN != want:
			return app.Errorf(app.ECONFLICT, "the new key authenticates as %s, not %s", got.ARN, want)
		case err == nil:
			return nil
		case !isCredentialRejection(err), time.Now().Add(c.verifyInterval).After(deadline):
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(c.verifyInterval):
		}
	}
}
