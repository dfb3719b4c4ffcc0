package ldap

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
)

// Asset kinds of LDAP connectors.
const (
	KindUser  = "ldap.user"
	KindGroup = "ldap.group"
)

// defaultPageSize is the Simple Paged Results page size (RFC 2696) of
// inventory searches. It stays at or below slapd's default sizelimit (500)
// so one page never trips a per-request limit.
const defaultPageSize = 500

var _ app.InventoryConn = (*conn)(nil)

// normDN is the form of a DN used as an asset's ExternalID: go-ldap's
// normal form (lower-case attribute types, no insignificant spaces,
// RFC 4514 escaping), lower-cased whole, since the naming attributes of
// users and groups (uid, cn, ou, dc) all match case-insensitively. A DN
// that does not parse is only lower-cased.
func normDN(dn string) string {
	if d, err := ldap.ParseDN(dn); err == nil {
		return strings.ToLower(d.String())
	}
	return strings.ToLower(strings.TrimSpace(dn))
}

// Inventory lists every user (inetOrgPerson) under user_base and every
// group (groupOfNames) under group_base with two paged searches. Any error,
// including a server size or time limit, fails the whole inventory: a
// partial list would make the missing entries look deleted.
//
// Attribute values are scalars or sorted slices, so an unchanged entry
// encodes to the same JSON on every sync.
func (c *conn) Inventory(ctx context.Context) ([]app.Observation, error) {
	users, err := c.pagedSearch(ctx, "users", c.cfg.UserBase, userClassFilter, userReadAttrs)
	if err != nil {
		return nil, err
	}
	groups, err := c.pagedSearch(ctx, "groups", c.cfg.GroupBase, groupClassFilter, groupReadAttrs)
	if err != nil {
		return nil, err
	}

	// Membership from the groups' member values, keyed by normalised DN.
	groupsOf := map[string][]string{}
	out := make([]app.Observation, 0, len(users)+len(groups))
	for _, g := range groups {
		o := groupObservation(g)
		for _, dn := range o.Attributes["members"].([]string) {
			groupsOf[dn] = append(groupsOf[dn], o.Name)
		}
		out = append(out, o)
	}
	for _, u := range users {
		out = append(out, userObservation(u, groupsOf[normDN(u.DN)]))
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind > out[j].Kind // users first
		}
		return out[i].ExternalID < out[j].ExternalID
	})
	return out, nil
}

// What Inventory (and ReadAssets) read of users and groups.
const (
	userClassFilter  = "(objectClass=inetOrgPerson)"
	groupClassFilter = "(objectClass=groupOfNames)"
)

var (
	// pwdAccountLockedTime and pwdChangedTime are operational: they are
	// returned only when asked for by name.
	userReadAttrs  = []string{"uid", "cn", "mail", "pwdAccountLockedTime", "pwdChangedTime"}
	groupReadAttrs = []string{"cn", "member"}
)

// groupObservation is a group entry as a sync reports it: members as
// sorted, distinct normalised DNs.
func groupObservation(g *ldap.Entry) app.Observation {
	cn := g.GetAttributeValue("cn")
	members := make([]string, 0, len(g.GetAttributeValues("member")))
	seen := map[string]bool{}
	for _, m := range g.GetAttributeValues("member") {
		dn := normDN(m)
		if seen[dn] {
			continue
		}
		seen[dn] = true
		members = append(members, dn)
	}
	sort.Strings(members)
	return app.Observation{Kind: KindGroup, ExternalID: normDN(g.DN), Name: cn,
		Attributes: map[string]any{"cn": cn, "members": members}}
}

// userObservation is a user entry as a sync reports it, with the cns of
// the groups it is a member of.
func userObservation(u *ldap.Entry, groups []string) app.Observation {
	dn := normDN(u.DN)
	uid := u.GetAttributeValue("uid")
	name := uid
	if name == "" {
		name = dn
	}
	memberOf := append([]string{}, groups...)
	sort.Strings(memberOf)
	var lockedSince, changed any
	locked := u.GetAttributeValue("pwdAccountLockedTime")
	if locked != "" {
		lockedSince = locked
	}
	if t, ok := parseGeneralizedTime(u.GetAttributeValue("pwdChangedTime")); ok {
		changed = t.UTC().Format(time.RFC3339)
	}
	return app.Observation{
		Kind:       KindUser,
		ExternalID: dn,
		Name:       name,
		Attributes: map[string]any{
			"uid":              uid,
			"cn":               u.GetAttributeValue("cn"),
			"mail":             u.GetAttributeValue("mail"),
			"locked":           locked != "",
			"locked_since":     lockedSince,
			"password_changed": changed,
			"groups":           memberOf,
		},
	}
}

// pagedSearch reads every entry matching filter under base, page by page.
func (c *conn) pagedSearch(ctx context.Context, what, base, filter string, attrs []string) ([]*ldap.Entry, error) {
	size := c.pageSize
	if size == 0 {
		size = defaultPageSize
	}
	var entries []*ldap.Entry
	err := c.do(ctx, "listing the "+what+" under "+base, func(l *ldap.Conn) error {
		res, err := l.SearchWithPaging(ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, 0, false,
			filter, attrs, nil), size)
		if res != nil {
			entries = res.Entries
		}
		return err
	})
	if err != nil {
		var le *ldap.Error
		if errors.As(err, &le) && (le.ResultCode == ldap.LDAPResultSizeLimitExceeded || le.ResultCode == ldap.LDAPResultAdminLimitExceeded) {
			return nil, app.Wrap(app.EUNAVAILABLE, err,
				"listing the %s under %s: the directory stopped after %d entries (%s); a partial inventory would make the rest look deleted, so allow %s to read them all (OpenLDAP: limits dn.exact=\"%s\" size.prtotal=unlimited)",
				what, base, len(entries), resultProblem(err), c.cfg.BindDN, c.cfg.BindDN)
		}
		return nil, err
	}
	return entries, nil
}

// parseGeneralizedTime reads an LDAP GeneralizedTime such as
// 20240131120000Z or 20240131120000.123456Z (ppolicy's timestamps).
func parseGeneralizedTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, false
	}
	for _, layout := range []string{"20060102150405Z0700", "20060102150405.999999999Z0700", "200601021504Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// The assets an executed operation changed are named twice, with external
// ids normalised exactly as Inventory makes them, so a sync can tell these
// changes from drift: in OpResult.Affects, and in its Details under
// "affects" as [{"kind": ..., "external_id": ...}] (an empty list when
// nothing changed). The Details value is []any of map[string]any, the shape
// a JSON round trip gives, so in-memory and stored results read the same.
const detailsAffects = "affects"

type affects []any

func (a *affects) user(dn string)  { a.add(KindUser, dn) }
func (a *affects) group(dn string) { a.add(KindGroup, dn) }

func (a *affects) add(kind, dn string) {
	id := normDN(dn)
	for _, x := range *a {
		if m := x.(map[string]any); m["kind"] == kind && m["external_id"] == id {
			return
		}
	}
	*a = append(*a, map[string]any{"kind": kind, "external_id": id})
}

// list is the Details value: never nil, so "changed nothing" reads as [].
func (a affects) list() []any {
	if a == nil {
		return []any{}
	}
	return a
}

// underUserBase reports whether dn is an entry below user_base.
func (c *conn) underUserBase(dn string) bool { return underBase(c.cfg.UserBase, dn) }

// refs is the list as OpResult.Affects.
func (a affects) refs() []app.AssetRef {
	out := make([]app.AssetRef, 0, len(a))
	for _, x := range a {
		m := x.(map[string]any)
		out = append(out, app.AssetRef{Kind: m["kind"].(string), ExternalID: m["external_id"].(string)})
	}
	return out
}

// refsOf is OpResult.Affects from the Details an operation built.
func refsOf(details map[string]any) []app.AssetRef {
	a, _ := details[detailsAffects].([]any)
	return affects(a).refs()
}
