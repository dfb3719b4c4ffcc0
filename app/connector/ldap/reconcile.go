package ldap

import (
	"context"
	"fmt"
	"strings"

	"github.com/nexplane/nexplane/app"
)

// Each ldap.* operation is an app.Observer: after a crash between the
// directory's write and the recording of its result, the engine asks the
// directory whether the effect is there before running it again. A
// missing entry or group is "not applied": the run then fails with the
// same honest error it would give on a first run.

// appliedTo says the effect is present; aff names the entries it changed,
// as the operation's own result would have.
func appliedTo(aff affects, format string, args ...any) (app.Reconciliation, error) {
	return app.Reconciliation{Outcome: app.OutcomeApplied, Reason: fmt.Sprintf(format, args...), Affects: aff.refs()}, nil
}

func notApplied(format string, args ...any) (app.Reconciliation, error) {
	return app.Reconciliation{Outcome: app.OutcomeNotApplied, Reason: fmt.Sprintf(format, args...)}, nil
}

func unknown(format string, args ...any) (app.Reconciliation, error) {
	return app.Reconciliation{Outcome: app.OutcomeUnknown, Reason: fmt.Sprintf(format, args...)}, nil
}

// absent reports whether err says an entry the operation needs does not
// exist (or the directory refuses it as a first run would): running then
// fails with that same error, which is the honest record.
func absent(err error) bool {
	code := app.ErrCode(err)
	return code == app.ENOTFOUND || code == app.ECONFLICT
}

// Observe says the account is created when an entry with the uid exists
// at the DN create would give it, with the requested cn and mail, in every
// requested group. Its generated password was never recorded, so nobody
// knows it: the account cannot be used until ldap.user.reset_password
// issues one, which is why this counts as applied (the request goes on,
// failing closed) rather than unknown (a rerun fails with "uid exists").
// An entry only part of the way there (groups missing) stops for a person.
func (o *UserCreate) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	c, err := connOf(ac)
	if err != nil {
		return app.Reconciliation{}, err
	}
	u, err := c.findUser(ctx, o.UID)
	if err != nil {
		return app.Reconciliation{}, err
	}
	if u == nil {
		return notApplied("uid=%s does not exist", o.UID)
	}
	if !strings.EqualFold(u.DN, c.newUserDN(o.UID)) || u.CN != o.CN || !strings.EqualFold(u.Mail, o.Mail) {
		// Not ours: the run fails with "already exists".
		return notApplied("uid=%s exists at %s with other attributes", o.UID, u.DN)
	}
	var missing []string
	var aff affects
	aff.user(u.DN)
	for _, cn := range o.Groups {
		g, err := c.findGroup(ctx, cn)
		if err != nil {
			return app.Reconciliation{}, err
		}
		if g == nil {
			missing = append(missing, cn)
			continue
		}
		member, err := c.isMember(ctx, g, u.DN)
		if err != nil {
			return app.Reconciliation{}, err
		}
		if !member {
			missing = append(missing, cn)
		}
		aff.group(g.DN)
	}
	if len(missing) > 0 {
		return unknown("%s was created but is not in [%s]: the earlier run stopped half way; add it with ldap.group.add_member and give it a password with ldap.user.reset_password (running the create again fails: the uid exists)",
			u.label(), strings.Join(missing, ", "))
	}
	return appliedTo(aff, "%s already existed with the requested attributes and groups (created before the server stopped); its generated password was never recorded, so nobody knows it: use ldap.user.reset_password to issue one", u.label())
}

// Observe cannot tell: the directory does not say whether the password
// was changed, and a new one's value was never recorded. Only a person
// may decide to set (and show) another.
func (o *UserResetPassword) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	c, err := connOf(ac)
	if err != nil {
		return app.Reconciliation{}, err
	}
	u, err := c.findUser(ctx, o.UID)
	if err != nil || u == nil {
		if err == nil {
			return notApplied("uid=%s does not exist", o.UID)
		}
		return app.Reconciliation{}, err
	}
	return unknown("a new generated password may have been set on %s and its value was never recorded; run it again to set and show a new one", u.label())
}

// Observe: disabled means the permanent ppolicy lock is present.
func (o *UserDisable) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	c, err := connOf(ac)
	if err != nil {
		return app.Reconciliation{}, err
	}
	u, err := c.mustFindUser(ctx, o.UID)
	if absent(err) {
		return notApplied("%s", app.ErrMessage(err))
	}
	if err != nil {
		return app.Reconciliation{}, err
	}
	if u.LockedTime == PermanentLock {
		return appliedTo(userAffects(u.DN), "%s is locked (pwdAccountLockedTime %s)", u.label(), PermanentLock)
	}
	return notApplied("%s is %s", u.label(), u.state())
}

// Observe: enabled means no pwdAccountLockedTime.
func (o *UserEnable) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	c, err := connOf(ac)
	if err != nil {
		return app.Reconciliation{}, err
	}
	u, err := c.mustFindUser(ctx, o.UID)
	if absent(err) {
		return notApplied("%s", app.ErrMessage(err))
	}
	if err != nil {
		return app.Reconciliation{}, err
	}
	if u.LockedTime == "" {
		return appliedTo(userAffects(u.DN), "%s is active (no pwdAccountLockedTime)", u.label())
	}
	return notApplied("%s is %s", u.label(), u.state())
}

// Observe: deleted means no entry with the uid. An entry still there (its
// memberships perhaps already removed) is deleted by running again.
func (o *UserDelete) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	c, err := connOf(ac)
	if err != nil {
		return app.Reconciliation{}, err
	}
	u, err := c.findUser(ctx, o.UID)
	if err != nil {
		return app.Reconciliation{}, err
	}
	if u == nil {
		return appliedTo(userAffects(c.newUserDN(o.UID)), "uid=%s no longer exists under %s", o.UID, c.cfg.UserBase)
	}
	return notApplied("%s still exists", u.label())
}

// Observe: added means the user's DN is a member value of the group.
func (o *GroupAddMember) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	c, err := connOf(ac)
	if err != nil {
		return app.Reconciliation{}, err
	}
	g, u, member, err := o.read(ctx, c)
	if absent(err) {
		return notApplied("%s", app.ErrMessage(err))
	}
	if err != nil {
		return app.Reconciliation{}, err
	}
	if member {
		return appliedTo(affects(membershipAffects(true, g.DN, u.DN)), "%s is a member of %s", u.label(), g.CN)
	}
	return notApplied("%s is not a member of %s", u.label(), g.CN)
}

// Observe: removed means the member value is gone.
func (o *GroupRemoveMember) Observe(ctx context.Context, ac app.Conn) (app.Reconciliation, error) {
	c, err := connOf(ac)
	if err != nil {
		return app.Reconciliation{}, err
	}
	g, memberDN, label, member, err := o.read(ctx, c)
	if absent(err) {
		return notApplied("%s", app.ErrMessage(err))
	}
	if err != nil {
		return app.Reconciliation{}, err
	}
	if !member {
		return appliedTo(affects(membershipAffects(true, g.DN, memberDN)), "%s is not a member of %s", label, g.CN)
	}
	return notApplied("%s is still a member of %s", label, g.CN)
}

// Compile-time checks: every ldap.* operation but the connector's own
// credential rotation (which a restart cannot observe: the directory
// would need the new password to be read) can be reconciled.
var (
	_ app.Observer = (*UserCreate)(nil)
	_ app.Observer = (*UserResetPassword)(nil)
	_ app.Observer = (*UserDisable)(nil)
	_ app.Observer = (*UserEnable)(nil)
	_ app.Observer = (*UserDelete)(nil)
	_ app.Observer = (*GroupAddMember)(nil)
	_ app.Observer = (*GroupRemoveMember)(nil)
)
