package aws

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/iam/types"

	"github.com/nexplane/nexplane/app"
)

// The aws.iam.* operations are app.Observers: after a crash between IAM's
// write and the recording of its result, the engine asks IAM whether the
// effect is there before running again. A missing user, key or group, or
// the connector's own key, is "not applied": the run then fails with the
// error a first run gives.

func reconciliation(o app.Outcome, format string, args ...any) (app.Reconciliation, error) {
	return app.Reconciliation{Outcome: o, Reason: fmt.Sprintf(format, args...)}, nil
}

// refused reports whether err is the answer a first run would fail with.
func refused(err error) bool {
	code := app.ErrCode(err)
	return code == app.ENOTFOUND || code == app.ECONFLICT
}

// Observe: a user without keys got none; one with keys may have got one
// whose secret was never recorded, and only a person may decide to create
// (and show) another.
func (o *KeyCreate) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	c, err := connOf(ac)
	if err != nil {
		return app.Reconciliation{}, err
	}
	keys, err := c.listKeys(ctx, o.UserName)
	if refused(err) {
		return reconciliation(app.OutcomeNotApplied, "%s", app.ErrMessage(err))
	}
	if err != nil {
		return app.Reconciliation{}, err
	}
	if len(keys) == 0 {
		return reconciliation(app.OutcomeNotApplied, "IAM user %s has no access key", o.UserName)
	}
	return reconciliation(app.OutcomeUnknown, "IAM user %s has %s; one may have been created by the earlier run and its secret was never recorded. Run it again to create (and show) a new key, then delete the one nobody has",
		o.UserName, keysPhrase(keys))
}

// Observe: the old key still active and alone means nothing happened; any
// other state may hold a new key whose secret was never recorded.
func (o *KeyRotate) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	c, err := connOf(ac)
	if err != nil {
		return app.Reconciliation{}, err
	}
	k, keys, err := c.findKey(ctx, o.UserName, o.AccessKeyID)
	if refused(err) {
		return reconciliation(app.OutcomeNotApplied, "%s", app.ErrMessage(err))
	}
	if err != nil {
		return app.Reconciliation{}, err
	}
	if k.Status == types.StatusTypeActive && len(keys) == 1 {
		return reconciliation(app.OutcomeNotApplied, "access key %s of IAM user %s is active and the only one", o.AccessKeyID, o.UserName)
	}
	return reconciliation(app.OutcomeUnknown, "IAM user %s has %s; the earlier run may have created a new key whose secret was never recorded. Run it again only after deleting a new key nobody has",
		o.UserName, keysPhrase(keys))
}

func observeStatus(ctx context.Context, ac app.Conn, user, id string, want types.StatusType) (app.Reconciliation, error) {
	_, k, err := readStatus(ctx, ac, user, id, want)
	if refused(err) {
		return reconciliation(app.OutcomeNotApplied, "%s", app.ErrMessage(err))
	}
	if err != nil {
		return app.Reconciliation{}, err
	}
	if k.Status == want {
		return reconciliation(app.OutcomeApplied, "access key %s of IAM user %s is %s", id, user, want)
	}
	return reconciliation(app.OutcomeNotApplied, "access key %s of IAM user %s is %s", id, user, k.Status)
}

// Observe: deactivated means the key's status is Inactive.
func (o *KeyDeactivate) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	return observeStatus(ctx, ac, o.UserName, o.AccessKeyID, types.StatusTypeInactive)
}

// Observe: activated means the key's status is Active.
func (o *KeyActivate) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	return observeStatus(ctx, ac, o.UserName, o.AccessKeyID, types.StatusTypeActive)
}

// Observe: deleted means the user has no such key (a run again would fail
// with "not found").
func (o *KeyDelete) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	_, _, err := o.read(ctx, ac)
	switch {
	case app.ErrCode(err) == app.ENOTFOUND:
		return reconciliation(app.OutcomeApplied, "access key %s of IAM user %s no longer exists", o.AccessKeyID, o.UserName)
	case app.ErrCode(err) == app.ECONFLICT:
		return reconciliation(app.OutcomeNotApplied, "%s", app.ErrMessage(err))
	case err != nil:
		return app.Reconciliation{}, err
	}
	return reconciliation(app.OutcomeNotApplied, "access key %s of IAM user %s still exists", o.AccessKeyID, o.UserName)
}

func observePolicy(ctx context.Context, ac app.Conn, user, arn string, attach bool) (app.Reconciliation, error) {
	c, err := connOf(ac)
	if err != nil {
		return app.Reconciliation{}, err
	}
	ps, err := c.attachedPolicies(ctx, user)
	if refused(err) {
		return reconciliation(app.OutcomeNotApplied, "%s", app.ErrMessage(err))
	}
	if err != nil {
		return app.Reconciliation{}, err
	}
	attached := hasPolicy(ps, arn)
	word := map[bool]string{true: "attached to", false: "not attached to"}[attached]
	out := app.OutcomeNotApplied
	if attached == attach {
		out = app.OutcomeApplied
	}
	return reconciliation(out, "%s is %s IAM user %s", arn, word, user)
}

// Observe: attached means the policy is among the user's.
func (o *PolicyAttach) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	return observePolicy(ctx, ac, o.UserName, o.PolicyARN, true)
}

// Observe: detached means the policy is not among the user's.
func (o *PolicyDetach) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	return observePolicy(ctx, ac, o.UserName, o.PolicyARN, false)
}

func observeGroup(ctx context.Context, ac app.Conn, user, group string, member bool) (app.Reconciliation, error) {
	_, groups, err := readMembership(ctx, ac, user, group)
	if refused(err) {
		return reconciliation(app.OutcomeNotApplied, "%s", app.ErrMessage(err))
	}
	if err != nil {
		return app.Reconciliation{}, err
	}
	in := contains(groups, group)
	word := map[bool]string{true: "in", false: "not in"}[in]
	out := app.OutcomeNotApplied
	if in == member {
		out = app.OutcomeApplied
	}
	return reconciliation(out, "IAM user %s is %s group %s", user, word, group)
}

// Observe: added means the user is in the group.
func (o *GroupAdd) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	return observeGroup(ctx, ac, o.UserName, o.GroupName, true)
}

// Observe: removed means the user is not in the group.
func (o *GroupRemove) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	return observeGroup(ctx, ac, o.UserName, o.GroupName, false)
}

// Every aws.iam.* operation can be reconciled; the connector's own
// credential rotation cannot (see the ldap package).
var (
	_ app.Observer = (*KeyCreate)(nil)
	_ app.Observer = (*KeyRotate)(nil)
	_ app.Observer = (*KeyDeactivate)(nil)
	_ app.Observer = (*KeyActivate)(nil)
	_ app.Observer = (*KeyDelete)(nil)
	_ app.Observer = (*PolicyAttach)(nil)
	_ app.Observer = (*PolicyDetach)(nil)
	_ app.Observer = (*GroupAdd)(nil)
	_ app.Observer = (*GroupRemove)(nil)
)
