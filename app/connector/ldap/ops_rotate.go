package ldap

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/go-ldap/ldap/v3"

	"github.com/nexplane/nexplane/app"
)

// RotateCredentials is connector.rotate_credentials for LDAP connectors:
// the bind account changes its own password.
type RotateCredentials struct{}

// Validate has nothing to check.
func (o *RotateCredentials) Validate() error { return nil }

// Plan checks that the bind DN is a real entry: the rootdn of slapd.conf
// usually is not, and its password lives in the server's config, out of
// LDAP's reach.
func (o *RotateCredentials) Plan(ctx context.Context, ac app.Conn) (string, error) {
	c, err := connOf(ac)
	if err != nil {
		return "", err
	}
	if err := o.checkEntry(ctx, c); err != nil {
		return "", err
	}
	return fmt.Sprintf("Will generate a new %d-character password for the bind account %s, set it on %s with the Password Modify operation (authenticated by the current password), check that a fresh bind with it succeeds, and store it as this connector's credentials. The current password stops working.",
		bindPasswordLen, c.cfg.BindDN, c.cfg.URL), nil
}

func (o *RotateCredentials) checkEntry(ctx context.Context, c *conn) error {
	err := c.do(ctx, "reading the bind account "+c.cfg.BindDN, func(l *ldap.Conn) error {
		_, err := l.Search(ldap.NewSearchRequest(c.cfg.BindDN, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, 0, false,
			"(objectClass=*)", []string{"1.1"}, nil))
		return err
	})
	if app.ErrCode(err) == app.ENOTFOUND {
		return app.Wrap(app.EINVALID, err, "the bind account %s is not an entry in the directory (a rootdn?); its password cannot be changed over LDAP: bind as a service account entry instead", c.cfg.BindDN)
	}
	return err
}

// Execute changes the password, then proves it with a fresh connection.
//
// Once the server has answered success, the new credentials are returned
// even if the proof fails (it says so in the summary): the old password no
// longer works, so not storing the new one would lock the connector out.
func (o *RotateCredentials) Execute(ctx context.Context, ac app.Conn) (*app.OpResult, error) {
	c, err := connOf(ac)
	if err != nil {
		return nil, err
	}
	if err := o.checkEntry(ctx, c); err != nil {
		return nil, err
	}
	password, err := newPassword(bindPasswordLen)
	if err != nil {
		return nil, err
	}
	creds, err := json.Marshal(map[string]string{"bind_password": password.reveal()})
	if err != nil {
		return nil, fmt.Errorf("ldap: encode credentials: %w", err)
	}
	old := c.currentPassword()
	changeErr := c.do(ctx, "changing the password of "+c.cfg.BindDN, func(l *ldap.Conn) error {
		// No user identity: the request acts on the bound identity itself.
		_, err := l.PasswordModify(ldap.NewPasswordModifyRequest("", old.reveal(), password.reveal()))
		return err
	})
	verifyErr := verifyBind(ctx, c.cfg, password)

	// The bind account is an asset only when it is a user under user_base.
	var aff affects
	if c.underUserBase(c.cfg.BindDN) {
		aff.user(c.cfg.BindDN)
	}
	details := map[string]any{"bind_dn": c.cfg.BindDN, "url": c.cfg.URL, detailsAffects: aff.list()}
	switch {
	case changeErr == nil && verifyErr == nil:
		c.setCurrentPassword(password)
		details["verified"] = true
		return &app.OpResult{Summary: "rotated the bind password of " + c.cfg.BindDN + "; a fresh bind with it succeeded",
			Details: details, Affects: refsOf(details), NewCredentials: creds}, nil
	case changeErr == nil:
		c.setCurrentPassword(password)
		details["verified"] = false
		return &app.OpResult{Summary: fmt.Sprintf("rotated the bind password of %s, but a fresh bind with it failed (%s); stored anyway because the directory accepted the change",
			c.cfg.BindDN, app.ErrMessage(verifyErr)), Details: details, Affects: refsOf(details), NewCredentials: creds}, nil
	case verifyErr == nil:
		// The answer was lost (timeout, dropped connection) but the change
		// happened: the new password binds.
		c.setCurrentPassword(password)
		details["verified"] = true
		return &app.OpResult{Summary: "rotated the bind password of " + c.cfg.BindDN + " (the reply was lost; a fresh bind with the new password succeeded)",
			Details: details, Affects: refsOf(details), NewCredentials: creds}, nil
	}
	return nil, changeErr
}

// verifyBind opens and closes a new session with the given password.
func verifyBind(ctx context.Context, cfg *Config, password secret) error {
	vc, err := connect(ctx, cfg, password.reveal())
	if err != nil {
		return err
	}
	return vc.Close()
}
