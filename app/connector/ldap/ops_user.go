package ldap

import (
	"context"
	"fmt"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
)

// UserCreate is ldap.user.create.
type UserCreate struct {
	UID    string   `json:"uid"`
	CN     string   `json:"cn"`
	SN     string   `json:"sn"`
	Mail   string   `json:"mail"`
	Groups []string `json:"groups,omitempty"`
}

// Validate checks the parameters without touching the directory.
func (o *UserCreate) Validate() error {
	if err := validateUID(o.UID); err != nil {
		return err
	}
	if err := validateName("cn", o.CN); err != nil {
		return err
	}
	if err := validateName("sn", o.SN); err != nil {
		return err
	}
	if err := validateMail(o.Mail); err != nil {
		return err
	}
	if len(o.Groups) > maxGroupsPerUser {
		return app.Errorf(app.EINVALID, "groups: at most %d", maxGroupsPerUser)
	}
	seen := map[string]bool{}
	for _, g := range o.Groups {
		if err := validateGroup("group", g); err != nil {
			return err
		}
		// cn matching is case-insensitive in the directory.
		if seen[strings.ToLower(g)] {
			return app.Errorf(app.EINVALID, "group %q is listed twice", g)
		}
		seen[strings.ToLower(g)] = true
	}
	return nil
}

// check reads what Plan and Execute both need: the uid must be free and
// every group must exist.
func (o *UserCreate) check(ctx context.Context, c *conn) ([]*group, error) {
	existing, err := c.findUser(ctx, o.UID)
	if err != nil {
		return nil, err
	}
	if existing != nil {
		return nil, app.Errorf(app.ECONFLICT, "uid=%s already exists: %s", o.UID, existing.DN)
	}
	groups := make([]*group, 0, len(o.Groups))
	for _, cn := range o.Groups {
		g, err := c.mustFindGroup(ctx, cn)
		if err != nil {
			return nil, err
		}
		groups = append(groups, g)
	}
	return groups, nil
}

func groupsPhrase(groups []*group) string {
	if len(groups) == 0 {
		return "no groups"
	}
	names := make([]string, len(groups))
	for i, g := range groups {
		names[i] = g.CN
	}
	if len(groups) == 1 {
		return "1 group: " + names[0]
	}
	return fmt.Sprintf("%d groups: %s", len(groups), strings.Join(names, ", "))
}

// Plan says what will be created; it fails if the uid exists or a group
// does not.
func (o *UserCreate) Plan(ctx context.Context, ac app.Conn) (string, error) {
	c, err := connOf(ac)
	if err != nil {
		return "", err
	}
	groups, err := o.check(ctx, c)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Will create %s (cn=%s, sn=%s, mail=%s) with object classes %s, set a generated %d-character password with the Password Modify operation (shown once to the requester), and add it to %s.",
		c.newUserDN(o.UID), o.CN, o.SN, o.Mail, strings.Join(c.cfg.UserObjectClasses, ", "), userPasswordLen, groupsPhrase(groups)), nil
}

// Execute adds the entry, then the memberships, then sets the password
// last: if a step fails, the account exists without a usable password
// rather than with a password nobody was shown.
func (o *UserCreate) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, err
	}
	groups, err := o.check(ctx, c)
	if err != nil {
		return nil, err
	}
	password, err := newPassword(userPasswordLen)
	if err != nil {
		return nil, err
	}
	dn := c.newUserDN(o.UID)
	err = c.do(ctx, "creating "+dn, func(l *ldap.Conn) error {
		add := ldap.NewAddRequest(dn, nil)
		add.Attribute("objectClass", c.cfg.UserObjectClasses)
		add.Attribute("uid", []string{o.UID})
		add.Attribute("cn", []string{o.CN})
		add.Attribute("sn", []string{o.SN})
		add.Attribute("mail", []string{o.Mail})
		return l.Add(add)
	})
	if err != nil {
		return nil, err
	}
	var added []string
	var aff affects
	aff.user(dn)
	for _, g := range groups {
		if _, err := c.addMember(ctx, g.DN, dn); err != nil {
			return nil, partial(err, "created %s (no password set yet) and added it to [%s], then failed; fix the cause, then use ldap.group.add_member and ldap.user.reset_password",
				dn, strings.Join(added, ", "))
		}
		added = append(added, g.CN)
		aff.group(g.DN)
	}
	if err := c.setPassword(ctx, dn, password); err != nil {
		return nil, partial(err, "created %s and added it to [%s], then failed to set its password; use ldap.user.reset_password to give it one",
			dn, strings.Join(added, ", "))
	}
	return &app.OpResult{
		Summary: fmt.Sprintf("created uid=%s (cn=%s) in %s", o.UID, o.CN, groupsPhrase(groups)),
		Details: map[string]any{"dn": dn, "uid": o.UID, "cn": o.CN, "mail": o.Mail, "groups": nonNil(added), detailsAffects: aff.list()},
		Affects: aff.refs(),
		Reveal:  []byte(password.reveal()),
	}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// UserDisable is ldap.user.disable.
type UserDisable struct {
	UID string `json:"uid"`
}

// Validate checks the uid.
func (o *UserDisable) Validate() error { return validateUID(o.UID) }

// Plan says whether the account will be locked or already is.
func (o *UserDisable) Plan(ctx context.Context, ac app.Conn) (string, error) {
	c, err := connOf(ac)
	if err != nil {
		return "", err
	}
	u, err := c.mustFindUser(ctx, o.UID)
	if err != nil {
		return "", err
	}
	if u.LockedTime == PermanentLock {
		return fmt.Sprintf("%s is already permanently locked; nothing will change.", u.label()), nil
	}
	groups, err := c.groupsOf(ctx, u.DN)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("Will lock %s by setting pwdAccountLockedTime to %s (ppolicy's permanent lock: binds fail until it is removed); it is currently %s and %s (memberships are kept).",
		u.label(), PermanentLock, u.state(), memberOfPhrase(groups)), nil
}

// Execute sets the permanent lock; an account already locked so is
// reported as "no change".
func (o *UserDisable) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, err
	}
	u, err := c.mustFindUser(ctx, o.UID)
	if err != nil {
		return nil, err
	}
	details := map[string]any{"dn": u.DN, "uid": u.UID, "previous_state": u.state()}
	if u.LockedTime == PermanentLock {
		details["changed"] = false
		details[detailsAffects] = affects(nil).list()
		return &app.OpResult{Summary: fmt.Sprintf("%s was already locked; no change", u.label()), Details: details, Affects: refsOf(details)}, nil
	}
	err = c.do(ctx, "locking "+u.DN, func(l *ldap.Conn) error {
		m := ldap.NewModifyRequest(u.DN, nil)
		m.Replace("pwdAccountLockedTime", []string{PermanentLock})
		return l.Modify(m)
	})
	if err != nil {
		return nil, err
	}
	details["changed"] = true
	details[detailsAffects] = userAffects(u.DN)
	return &app.OpResult{Summary: "locked " + u.label(), Details: details, Affects: refsOf(details)}, nil
}

// UserEnable is ldap.user.enable.
type UserEnable struct {
	UID string `json:"uid"`
}

// Validate checks the uid.
func (o *UserEnable) Validate() error { return validateUID(o.UID) }

// Plan says whether the lock will be removed or the account is active.
func (o *UserEnable) Plan(ctx context.Context, ac app.Conn) (string, error) {
	c, err := connOf(ac)
	if err != nil {
		return "", err
	}
	u, err := c.mustFindUser(ctx, o.UID)
	if err != nil {
		return "", err
	}
	if u.LockedTime == "" {
		return fmt.Sprintf("%s is already active; nothing will change.", u.label()), nil
	}
	return fmt.Sprintf("Will unlock %s by removing pwdAccountLockedTime; it is currently %s.", u.label(), u.state()), nil
}

// Execute removes the lock; an active account is "no change".
func (o *UserEnable) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, err
	}
	u, err := c.mustFindUser(ctx, o.UID)
	if err != nil {
		return nil, err
	}
	details := map[string]any{"dn": u.DN, "uid": u.UID, "previous_state": u.state()}
	if u.LockedTime == "" {
		details["changed"] = false
		details[detailsAffects] = affects(nil).list()
		return &app.OpResult{Summary: fmt.Sprintf("%s was already active; no change", u.label()), Details: details, Affects: refsOf(details)}, nil
	}
	err = c.do(ctx, "unlocking "+u.DN, func(l *ldap.Conn) error {
		m := ldap.NewModifyRequest(u.DN, nil)
		m.Delete("pwdAccountLockedTime", nil)
		return l.Modify(m)
	})
	// Someone else unlocked it between our read and our write: same outcome.
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
		details["changed"] = false
		details[detailsAffects] = affects(nil).list()
		return &app.OpResult{Summary: fmt.Sprintf("%s was already active; no change", u.label()), Details: details, Affects: refsOf(details)}, nil
	}
	if err != nil {
		return nil, err
	}
	details["changed"] = true
	details[detailsAffects] = userAffects(u.DN)
	return &app.OpResult{Summary: "unlocked " + u.label(), Details: details, Affects: refsOf(details)}, nil
}

// UserResetPassword is ldap.user.reset_password.
type UserResetPassword struct {
	UID string `json:"uid"`
}

// Validate checks the uid.
func (o *UserResetPassword) Validate() error { return validateUID(o.UID) }

// Plan names the account and warns when it is locked (a reset does not
// unlock).
func (o *UserResetPassword) Plan(ctx context.Context, ac app.Conn) (string, error) {
	c, err := connOf(ac)
	if err != nil {
		return "", err
	}
	u, err := c.mustFindUser(ctx, o.UID)
	if err != nil {
		return "", err
	}
	s := fmt.Sprintf("Will set a new generated %d-character password on %s with the Password Modify operation; the current password stops working and the new one is shown once to the requester.",
		userPasswordLen, u.label())
	if u.LockedTime != "" {
		s += " Note: the account is " + u.state() + "; resetting the password does not unlock it (use ldap.user.enable)."
	}
	return s, nil
}

// Execute sets the new password; Reveal carries it, nothing else does.
func (o *UserResetPassword) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, err
	}
	u, err := c.mustFindUser(ctx, o.UID)
	if err != nil {
		return nil, err
	}
	password, err := newPassword(userPasswordLen)
	if err != nil {
		return nil, err
	}
	if err := c.setPassword(ctx, u.DN, password); err != nil {
		return nil, err
	}
	details := map[string]any{"dn": u.DN, "uid": u.UID, "state": u.state(), detailsAffects: userAffects(u.DN)}
	return &app.OpResult{
		Summary: "set a new password for " + u.label(),
		Details: details,
		Affects: refsOf(details),
		Reveal:  []byte(password.reveal()),
	}, nil
}

// UserDelete is ldap.user.delete.
type UserDelete struct {
	UID string `json:"uid"`
}

// Validate checks the uid.
func (o *UserDelete) Validate() error { return validateUID(o.UID) }

// check finds the user and its groups, refusing when it is the last member
// of a group (groupOfNames must keep one member; the directory would
// refuse half-way through).
func (o *UserDelete) check(ctx context.Context, c *conn) (*user, []group, error) {
	u, err := c.mustFindUser(ctx, o.UID)
	if err != nil {
		return nil, nil, err
	}
	groups, err := c.groupsOf(ctx, u.DN)
	if err != nil {
		return nil, nil, err
	}
	if sole := soleMemberOf(groups); len(sole) > 0 {
		return nil, nil, app.Errorf(app.ECONFLICT, "%s is the only member of %s; a groupOfNames needs at least one member, so add another member or delete the group first",
			u.label(), strings.Join(sole, ", "))
	}
	return u, groups, nil
}

// Plan says which entry goes and which memberships go with it.
func (o *UserDelete) Plan(ctx context.Context, ac app.Conn) (string, error) {
	c, err := connOf(ac)
	if err != nil {
		return "", err
	}
	u, groups, err := o.check(ctx, c)
	if err != nil {
		return "", err
	}
	removal := "; it is in no group"
	if len(groups) > 0 {
		removal = " after removing it from " + strings.TrimPrefix(memberOfPhrase(groups), "member of ")
	}
	return fmt.Sprintf("Will delete %s (%s, mail=%s, currently %s)%s. This cannot be undone.", u.label(), u.DN, u.Mail, u.state(), removal), nil
}

// Execute removes the memberships first (so no group is left pointing at a
// missing entry), then the entry.
func (o *UserDelete) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, err
	}
	u, groups, err := o.check(ctx, c)
	if err != nil {
		return nil, err
	}
	removed := []string{}
	var aff affects
	aff.user(u.DN)
	for _, g := range groups {
		if _, err := c.removeMember(ctx, g.DN, u.DN); err != nil {
			return nil, partial(err, "removed %s from [%s], then failed", u.label(), strings.Join(removed, ", "))
		}
		removed = append(removed, g.CN)
		aff.group(g.DN)
	}
	err = c.do(ctx, "deleting "+u.DN, func(l *ldap.Conn) error {
		return l.Del(ldap.NewDelRequest(u.DN, nil))
	})
	if err != nil {
		return nil, partial(err, "removed %s from [%s], then failed to delete the entry", u.label(), strings.Join(removed, ", "))
	}
	return &app.OpResult{
		Summary: fmt.Sprintf("deleted %s and removed it from %d groups", u.label(), len(removed)),
		Details: map[string]any{"dn": u.DN, "uid": u.UID, "cn": u.CN, "groups_removed_from": removed, detailsAffects: aff.list()},
		Affects: aff.refs(),
	}, nil
}

// userAffects is the "affects" list of an operation that changed one user.
func userAffects(dn string) []any {
	var a affects
	a.user(dn)
	return a.list()
}
