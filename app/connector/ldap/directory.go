package ldap

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
)

// Every DN and filter is built here, and only here, with escaping
// (ldap.EscapeDN for RFC 4514 attribute values, ldap.EscapeFilter for
// RFC 4515 assertion values), so a value that slipped past validation
// still cannot change a DN's shape or a filter's meaning.

func (c *conn) newUserDN(uid string) string {
	return "uid=" + ldap.EscapeDN(uid) + "," + c.cfg.UserBase
}

func userFilter(uid string) string {
	return "(&(objectClass=inetOrgPerson)(uid=" + ldap.EscapeFilter(uid) + "))"
}

func groupFilter(cn string) string {
	return "(&(objectClass=groupOfNames)(cn=" + ldap.EscapeFilter(cn) + "))"
}

func memberFilter(dn string) string {
	return "(&(objectClass=groupOfNames)(member=" + ldap.EscapeFilter(dn) + "))"
}

// PermanentLock is the pwdAccountLockedTime value with which OpenLDAP's
// ppolicy locks an account until an administrator removes it.
const PermanentLock = "000001010000Z"

type user struct {
	DN, UID, CN, Mail string
	LockedTime        string // pwdAccountLockedTime, "" when active
}

// label is how reviewers see a user: "uid=alice (cn=Alice Doe)".
func (u *user) label() string { return fmt.Sprintf("uid=%s (cn=%s)", u.UID, u.CN) }

func (u *user) state() string {
	switch u.LockedTime {
	case "":
		return "active"
	case PermanentLock:
		return "locked (pwdAccountLockedTime " + PermanentLock + ", permanent)"
	}
	return "locked by the password policy since " + u.LockedTime
}

// findUser looks the uid up anywhere under user_base (directories often
// nest OUs). Not found is (nil, nil); more than one match is refused,
// since acting on a guess would be worse than stopping.
func (c *conn) findUser(ctx context.Context, uid string) (*user, error) {
	var entries []*ldap.Entry
	err := c.do(ctx, "looking up uid="+uid, func(l *ldap.Conn) error {
		res, err := l.Search(ldap.NewSearchRequest(c.cfg.UserBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, 0, false,
			userFilter(uid), []string{"uid", "cn", "mail", "pwdAccountLockedTime"}, nil))
		if res != nil {
			entries = res.Entries
		}
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch len(entries) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, app.Errorf(app.ECONFLICT, "uid=%s matches more than one entry under %s; refusing to guess", uid, c.cfg.UserBase)
	}
	e := entries[0]
	return &user{
		DN:         e.DN,
		UID:        uid,
		CN:         e.GetAttributeValue("cn"),
		Mail:       e.GetAttributeValue("mail"),
		LockedTime: e.GetAttributeValue("pwdAccountLockedTime"),
	}, nil
}

// mustFindUser is findUser with "not found" as an error.
func (c *conn) mustFindUser(ctx context.Context, uid string) (*user, error) {
	u, err := c.findUser(ctx, uid)
	if err == nil && u == nil {
		err = app.Errorf(app.ENOTFOUND, "no user with uid=%s under %s", uid, c.cfg.UserBase)
	}
	return u, err
}

type group struct {
	DN, CN  string
	Members int
}

func groupsFromEntries(entries []*ldap.Entry) []group {
	out := make([]group, 0, len(entries))
	for _, e := range entries {
		out = append(out, group{DN: e.DN, CN: e.GetAttributeValue("cn"), Members: len(e.GetAttributeValues("member"))})
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].CN) < strings.ToLower(out[j].CN) })
	return out
}

// findGroup looks a group up by cn anywhere under group_base; not found is
// (nil, nil).
func (c *conn) findGroup(ctx context.Context, cn string) (*group, error) {
	var entries []*ldap.Entry
	err := c.do(ctx, "looking up group cn="+cn, func(l *ldap.Conn) error {
		res, err := l.Search(ldap.NewSearchRequest(c.cfg.GroupBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, 0, false,
			groupFilter(cn), []string{"cn", "member"}, nil))
		if res != nil {
			entries = res.Entries
		}
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return nil
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	switch len(entries) {
	case 0:
		return nil, nil
	case 1:
		g := groupsFromEntries(entries)[0]
		return &g, nil
	}
	return nil, app.Errorf(app.ECONFLICT, "group cn=%s matches more than one entry under %s; refusing to guess", cn, c.cfg.GroupBase)
}

func (c *conn) mustFindGroup(ctx context.Context, cn string) (*group, error) {
	g, err := c.findGroup(ctx, cn)
	if err == nil && g == nil {
		err = app.Errorf(app.ENOTFOUND, "no group with cn=%s under %s", cn, c.cfg.GroupBase)
	}
	return g, err
}

// groupsOf lists the groups under group_base that have dn as a member. The
// server compares DNs with distinguishedNameMatch, so spelling differences
// (case, spaces) do not hide a membership.
func (c *conn) groupsOf(ctx context.Context, dn string) ([]group, error) {
	var entries []*ldap.Entry
	err := c.do(ctx, "listing the groups of "+dn, func(l *ldap.Conn) error {
		res, err := l.Search(ldap.NewSearchRequest(c.cfg.GroupBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			memberFilter(dn), []string{"cn", "member"}, nil))
		if res != nil {
			entries = res.Entries
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return groupsFromEntries(entries), nil
}

// isMember asks the server (Compare uses the attribute's DN matching).
func (c *conn) isMember(ctx context.Context, g *group, dn string) (bool, error) {
	var ok bool
	err := c.do(ctx, "checking membership of "+g.DN, func(l *ldap.Conn) error {
		var err error
		ok, err = l.Compare(g.DN, "member", dn)
		return err
	})
	return ok, err
}

// soleMemberOf names the groups that would be left without members:
// groupOfNames requires at least one member, so the directory would refuse
// the change half-way through.
func soleMemberOf(groups []group) []string {
	var out []string
	for _, g := range groups {
		if g.Members <= 1 {
			out = append(out, g.CN)
		}
	}
	return out
}

func groupNames(groups []group) []string {
	out := make([]string, len(groups))
	for i, g := range groups {
		out[i] = g.CN
	}
	return out
}

// memberOfPhrase is "member of 2 groups: admins, devs" / "in no group".
func memberOfPhrase(groups []group) string {
	switch len(groups) {
	case 0:
		return "member of no group"
	case 1:
		return "member of 1 group: " + groups[0].CN
	}
	return fmt.Sprintf("member of %d groups: %s", len(groups), strings.Join(groupNames(groups), ", "))
}

// removeMember deletes one member value; "not there" is not an error
// (idempotent), and reports whether anything changed.
func (c *conn) removeMember(ctx context.Context, groupDN, memberDN string) (bool, error) {
	err := c.do(ctx, "removing "+memberDN+" from "+groupDN, func(l *ldap.Conn) error {
		m := ldap.NewModifyRequest(groupDN, nil)
		m.Delete("member", []string{memberDN})
		return l.Modify(m)
	})
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchAttribute) {
		return false, nil
	}
	return err == nil, err
}

// addMember adds one member value; "already there" is not an error.
func (c *conn) addMember(ctx context.Context, groupDN, memberDN string) (bool, error) {
	err := c.do(ctx, "adding "+memberDN+" to "+groupDN, func(l *ldap.Conn) error {
		m := ldap.NewModifyRequest(groupDN, nil)
		m.Add("member", []string{memberDN})
		return l.Modify(m)
	})
	if ldap.IsErrorWithCode(err, ldap.LDAPResultAttributeOrValueExists) {
		return false, nil
	}
	return err == nil, err
}

// setPassword sets a user's password with the Password Modify extended
// operation (RFC 3062), so the server hashes it by its own policy
// (password-hash) and ppolicy sees a password change.
func (c *conn) setPassword(ctx context.Context, dn string, password secret) error {
	return c.do(ctx, "setting the password of "+dn, func(l *ldap.Conn) error {
		_, err := l.PasswordModify(ldap.NewPasswordModifyRequest(dn, "", password.reveal()))
		return err
	})
}
