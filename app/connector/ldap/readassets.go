package ldap

import (
	"context"

	"github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
)

var _ app.AssetReader = (*conn)(nil)

// ReadAssets reads the users and groups refs name (by DN) with one base
// search each, as Inventory reports them; an entry that no longer exists,
// is not of its kind's class, or is outside user_base or group_base (where
// Inventory would not see it) is left out.
func (c *conn) ReadAssets(ctx context.Context, refs []app.AssetRef) ([]app.Observation, error) {
	var out []app.Observation
	for _, r := range refs {
		switch r.Kind {
		case KindUser:
			if !underBase(c.cfg.UserBase, r.ExternalID) {
				continue
			}
			e, err := c.readEntry(ctx, r.ExternalID, userClassFilter, userReadAttrs)
			if err != nil {
				return nil, err
			}
			if e == nil {
				continue
			}
			groups, err := c.groupsOf(ctx, e.DN)
			if err != nil {
				return nil, err
			}
			cns := make([]string, 0, len(groups))
			for _, g := range groups {
				cns = append(cns, g.CN)
			}
			out = append(out, userObservation(e, cns))
		case KindGroup:
			if !underBase(c.cfg.GroupBase, r.ExternalID) {
				continue
			}
			e, err := c.readEntry(ctx, r.ExternalID, groupClassFilter, groupReadAttrs)
			if err != nil {
				return nil, err
			}
			if e != nil {
				out = append(out, groupObservation(e))
			}
		}
	}
	return out, nil
}

// readEntry reads the entry dn if it matches filter; (nil, nil) when there
// is no such entry.
func (c *conn) readEntry(ctx context.Context, dn, filter string, attrs []string) (*ldap.Entry, error) {
	var entry *ldap.Entry
	err := c.do(ctx, "reading "+dn, func(l *ldap.Conn) error {
		res, err := l.Search(ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			filter, attrs, nil))
		if res != nil && len(res.Entries) > 0 {
			entry = res.Entries[0]
		}
		return err
	})
	if app.ErrCode(err) == app.ENOTFOUND {
		return nil, nil
	}
	return entry, err
}

// underBase reports whether dn is an entry below base.
func underBase(base, dn string) bool {
	d, err := ldap.ParseDN(dn)
	if err != nil {
		return false
	}
	b, err := ldap.ParseDN(base)
	if err != nil {
		return false
	}
	return b.AncestorOfFold(d)
}
