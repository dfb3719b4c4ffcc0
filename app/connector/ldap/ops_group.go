package ldap

import (
	"context"
	"fmt"

	"github.com/nexplane/nexplane/app"
)

// GroupAddMember is ldap.group.add_member.
type GroupAddMember struct {
	Group string `json:"group"`
	UID   string `json:"uid"`
}

// Validate checks the group cn and the uid.
func (o *GroupAddMember) Validate() error {
	if err := validateGroup("group", o.Group); err != nil {
		return err
	}
	return validateUID(o.UID)
}

func (o *GroupAddMember) read(ctx context.Context, c *conn) (*group, *user, bool, error) {
	g, err := c.mustFindGroup(ctx, o.Group)
	if err != nil {
		return nil, nil, false, err
	}
	u, err := c.mustFindUser(ctx, o.UID)
	if err != nil {
		return nil, nil, false, err
	}
	member, err := c.isMember(ctx, g, u.DN)
	return g, u, member, err
}

// Plan says whether the membership will be added or already exists.
func (o *GroupAddMember) Plan(ctx context.Context, ac app.Conn) (string, error) {
	c, err := connOf(ac)
	if err != nil {
		return "", err
	}
	g, u, member, err := o.read(ctx, c)
	if err != nil {
		return "", err
	}
	if member {
		return fmt.Sprintf("%s is already a member of %s; nothing will change.", u.label(), g.CN), nil
	}
	return fmt.Sprintf("Will add %s to group %s (%s), which has %s.", u.label(), g.CN, g.DN, membersPhrase(g.Members)), nil
}

// Execute adds the member value; an existing membership is "no change".
func (o *GroupAddMember) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, err
	}
	g, u, member, err := o.read(ctx, c)
	if err != nil {
		return nil, err
	}
	changed := false
	if !member {
		if changed, err = c.addMember(ctx, g.DN, u.DN); err != nil {
			return nil, err
		}
	}
	details := map[string]any{"group_dn": g.DN, "user_dn": u.DN, "changed": changed, detailsAffects: membershipAffects(changed, g.DN, u.DN)}
	if !changed {
		return &app.OpResult{Summary: fmt.Sprintf("%s was already a member of %s; no change", u.label(), g.CN), Details: details, Affects: refsOf(details)}, nil
	}
	return &app.OpResult{Summary: fmt.Sprintf("added %s to %s", u.label(), g.CN), Details: details, Affects: refsOf(details)}, nil
}

// GroupRemoveMember is ldap.group.remove_member.
type GroupRemoveMember struct {
	Group string `json:"group"`
	UID   string `json:"uid"`
}

// Validate checks the group cn and the uid.
func (o *GroupRemoveMember) Validate() error {
	if err := validateGroup("group", o.Group); err != nil {
		return err
	}
	return validateUID(o.UID)
}

// read finds the group and the member DN. A uid whose entry is gone may
// still be listed as a member (a dangling value); it is then removed by its
// DN under user_base, so this operation can clean up after a bad delete.
func (o *GroupRemoveMember) read(ctx context.Context, c *conn) (g *group, memberDN, label string, member bool, err error) {
	if g, err = c.mustFindGroup(ctx, o.Group); err != nil {
		return
	}
	u, err := c.findUser(ctx, o.UID)
	if err != nil {
		return
	}
	if u != nil {
		memberDN, label = u.DN, u.label()
	} else {
		memberDN, label = c.newUserDN(o.UID), fmt.Sprintf("uid=%s (no such entry; a dangling member value)", o.UID)
	}
	member, err = c.isMember(ctx, g, memberDN)
	if err == nil && member && g.Members <= 1 {
		err = app.Errorf(app.ECONFLICT, "%s is the only member of %s; a groupOfNames needs at least one member, so add another member first", label, g.CN)
	}
	return
}

// Plan says whether the membership will be removed or does not exist.
func (o *GroupRemoveMember) Plan(ctx context.Context, ac app.Conn) (string, error) {
	c, err := connOf(ac)
	if err != nil {
		return "", err
	}
	g, _, label, member, err := o.read(ctx, c)
	if err != nil {
		return "", err
	}
	if !member {
		return fmt.Sprintf("%s is not a member of %s; nothing will change.", label, g.CN), nil
	}
	return fmt.Sprintf("Will remove %s from group %s (%s), which has %s.", label, g.CN, g.DN, membersPhrase(g.Members)), nil
}

// Execute deletes the member value; a missing membership is "no change".
func (o *GroupRemoveMember) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, err
	}
	g, dn, label, member, err := o.read(ctx, c)
	if err != nil {
		return nil, err
	}
	changed := false
	if member {
		if changed, err = c.removeMember(ctx, g.DN, dn); err != nil {
			return nil, err
		}
	}
	details := map[string]any{"group_dn": g.DN, "user_dn": dn, "changed": changed, detailsAffects: membershipAffects(changed, g.DN, dn)}
	if !changed {
		return &app.OpResult{Summary: fmt.Sprintf("%s was not a member of %s; no change", label, g.CN), Details: details, Affects: refsOf(details)}, nil
	}
	return &app.OpResult{Summary: fmt.Sprintf("removed %s from %s", label, g.CN), Details: details, Affects: refsOf(details)}, nil
}

func membersPhrase(n int) string {
	if n == 1 {
		return "1 member"
	}
	return fmt.Sprintf("%d members", n)
}

// membershipAffects is the "affects" list of a membership change: the user
// (its groups) and the group (its members), or nothing when nothing changed.
func membershipAffects(changed bool, groupDN, userDN string) []any {
	var a affects
	if changed {
		a.user(userDN)
		a.group(groupDN)
	}
	return a.list()
}
