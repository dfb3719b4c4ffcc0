// Package oidc signs people in through an OpenID Connect provider (Keycloak,
// Entra ID, Okta, …): the authorization code flow with PKCE, discovery,
// state and nonce, and ID token validation (issuer, audience, expiry,
// signature with the provider's rotating keys) by github.com/coreos/go-oidc.
// app keeps the state, nonce and PKCE verifier and decides what the
// identity may do; this package only speaks the protocol.
package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/sso"
)

// Type is the provider type this package registers.
const Type = "oidc"

// ClockSkew is how far the provider's clock may be from ours: a token is
// accepted this long after its expiry and refused when issued further than
// this in the future.
const ClockSkew = time.Minute

// discoveryTTL is how long a provider's discovery document is trusted
// before it is fetched again. Keys are not bound by it: an unknown key id
// makes go-oidc fetch the key set at once (key rotation).
const discoveryTTL = time.Hour

// Config is a provider's non-secret settings.
type Config struct {
	Issuer      string   `json:"issuer"`
	ClientID    string   `json:"client_id"`
	Scopes      []string `json:"scopes,omitempty"`
	GroupsClaim string   `json:"groups_claim,omitempty"`
}

// Secrets are a provider's sealed settings.
type Secrets struct {
	ClientSecret string `json:"client_secret,omitempty"`
}

var defaultScopes = []string{gooidc.ScopeOpenID, "email", "profile"}

const defaultGroupsClaim = "groups"

var spec = app.ConfigSpec{
	Label: "OpenID Connect",
	Fields: []app.ConfigField{
		{Name: "issuer", Label: "Issuer URL", Type: app.ConfigText, Required: true, Locates: true,
			Help: "The provider's issuer, exactly as its discovery document names it (https; http only for a loopback address)"},
		{Name: "client_id", Label: "Client ID", Type: app.ConfigText, Required: true, Locates: true},
		{Name: "scopes", Label: "Scopes", Type: app.ConfigList, Default: defaultScopes,
			Help: "Requested scopes; openid is always added"},
		{Name: "groups_claim", Label: "Groups claim", Type: app.ConfigText, Default: defaultGroupsClaim,
			Help: "The ID token claim holding the groups (or roles) the mapping rules match"},
		{Name: "client_secret", Label: "Client secret", Type: app.ConfigText, Secret: true,
			Help: "Leave empty for a public client (PKCE only)"},
	},
}

// Provider is the oidc provider type.
type Provider struct {
	client *http.Client
	mu     sync.Mutex
	cache  map[string]discovered // by issuer
}

type discovered struct {
	p  *gooidc.Provider
	at time.Time
}

// New returns the provider type; client makes every request to the
// provider (discovery, keys, token exchange).
func New(client *http.Client) *Provider {
	return &Provider{client: client, cache: map[string]discovered{}}
}

// Register adds the oidc type to reg.
func Register(reg *app.Registry, client *http.Client) { reg.RegisterIdentityProvider(New(client)) }

// Type implements app.IdentityProviderType.
func (*Provider) Type() string { return Type }

// ConfigSpec implements app.IdentityProviderType.
func (*Provider) ConfigSpec() app.ConfigSpec { return spec }

var claimNameRE = regexp.MustCompile(`^[A-Za-z0-9_:./-]{1,128}$`)

// ValidateConfig implements app.IdentityProviderType.
func (*Provider) ValidateConfig(raw json.RawMessage) (json.RawMessage, error) {
	var c Config
	if err := app.DecodeStrictJSON(raw, &c); err != nil {
		return nil, app.Errorf(app.EINVALID, "oidc config: %s", err)
	}
	if err := checkIssuer(c.Issuer); err != nil {
		return nil, err
	}
	if c.ClientID = strings.TrimSpace(c.ClientID); c.ClientID == "" {
		return nil, app.Errorf(app.EINVALID, "oidc config: client_id is required")
	}
	if len(c.Scopes) == 0 {
		c.Scopes = defaultScopes
	}
	scopes := []string{gooidc.ScopeOpenID}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
			return nil, app.Errorf(app.EINVALID, "oidc config: scope %q is not a valid scope", s)
		}
		if s != gooidc.ScopeOpenID {
			scopes = append(scopes, s)
		}
	}
	c.Scopes = scopes
	if c.GroupsClaim == "" {
		c.GroupsClaim = defaultGroupsClaim
	}
	if !claimNameRE.MatchString(c.GroupsClaim) {
		return nil, app.Errorf(app.EINVALID, "oidc config: groups_claim must be 1 to 128 letters, digits or _:./-")
	}
	out, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("oidc config: %w", err)
	}
	return out, nil
}

func checkIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return app.Errorf(app.EINVALID, "oidc config: issuer must be an absolute URL without query, fragment or user")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		// Tokens and the client secret would cross the network in clear;
		// only a provider on this host may be spoken to without TLS.
		host := u.Hostname()
		if ip := net.ParseIP(host); (ip != nil && ip.IsLoopback()) || host == "localhost" {
			return nil
		}
	}
	return app.Errorf(app.EINVALID, "oidc config: issuer must use https (http only for a loopback address)")
}

func decode(p app.ProviderRun) (Config, Secrets, error) {
	var c Config
	var s Secrets
	if err := json.Unmarshal(p.Config, &c); err != nil {
		return c, s, fmt.Errorf("oidc provider %d: decode config: %w", p.ID, err)
	}
	if len(p.Secrets) > 0 {
		if err := json.Unmarshal(p.Secrets, &s); err != nil {
			return c, s, fmt.Errorf("oidc provider %d: decode secrets: %w", p.ID, err)
		}
	}
	return c, s, nil
}

func (d *Provider) clientContext(ctx context.Context) context.Context {
	if d.client == nil {
		return ctx
	}
	return gooidc.ClientContext(ctx, d.client)
}

// discover returns the provider's discovery, fetched at most once per
// discoveryTTL.
func (d *Provider) discover(ctx context.Context, issuer string, now time.Time) (*gooidc.Provider, error) {
	d.mu.Lock()
	c, ok := d.cache[issuer]
	d.mu.Unlock()
	if ok && now.Sub(c.at) < discoveryTTL && now.Sub(c.at) >= 0 {
		return c.p, nil
	}
	// The key set keeps this context for its later fetches; it must not
	// end with the request that happened to discover the provider.
	p, err := gooidc.NewProvider(d.clientContext(context.WithoutCancel(ctx)), issuer)
	if err != nil {
		return nil, app.Wrap(app.EUNAVAILABLE, err, "the identity provider at %s did not answer its discovery request", issuer)
	}
	d.mu.Lock()
	d.cache[issuer] = discovered{p: p, at: now}
	d.mu.Unlock()
	return p, nil
}

func oauthConfig(p *gooidc.Provider, c Config, s Secrets, callback string) *oauth2.Config {
	return &oauth2.Config{ClientID: c.ClientID, ClientSecret: s.ClientSecret, Endpoint: p.Endpoint(),
		RedirectURL: callback, Scopes: c.Scopes}
}

// AuthURL implements app.RedirectFlow.
func (d *Provider) AuthURL(ctx context.Context, run app.ProviderRun, req app.RedirectRequest) (string, error) {
	c, s, err := decode(run)
	if err != nil {
		return "", err
	}
	p, err := d.discover(ctx, c.Issuer, req.Now())
	if err != nil {
		return "", err
	}
	return oauthConfig(p, c, s, req.CallbackURL).AuthCodeURL(req.State, gooidc.Nonce(req.Nonce),
		oauth2.S256ChallengeOption(req.CodeVerifier)), nil
}

func refused(format string, args ...any) error {
	return app.Errorf(app.EUNAUTHORIZED, format, args...)
}

var errorCodeRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Callback implements app.RedirectFlow.
func (d *Provider) Callback(ctx context.Context, run app.ProviderRun, req app.RedirectRequest, params url.Values) (sso.Identity, error) {
	var none sso.Identity
	if e := params.Get("error"); e != "" {
		// The code is the provider's word (access_denied, …); anything
		// else it wrote is not repeated.
		if !errorCodeRE.MatchString(e) {
			e = "unknown"
		}
		return none, refused("the identity provider refused the sign-in (%s)", e)
	}
	code := params.Get("code")
	if code == "" {
		return none, refused("the identity provider sent no authorization code")
	}
	c, s, err := decode(run)
	if err != nil {
		return none, err
	}
	p, err := d.discover(ctx, c.Issuer, req.Now())
	if err != nil {
		return none, err
	}
	tok, err := oauthConfig(p, c, s, req.CallbackURL).Exchange(d.clientContext(ctx), code, oauth2.VerifierOption(req.CodeVerifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return none, app.Wrap(app.EUNAUTHORIZED, err, "the identity provider did not accept the authorization code")
		}
		return none, app.Wrap(app.EUNAVAILABLE, err, "the identity provider's token endpoint did not answer")
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return none, refused("the identity provider sent no ID token")
	}
	verifier := p.VerifierContext(d.clientContext(ctx), &gooidc.Config{ClientID: c.ClientID,
		// Expiry is checked against a clock ClockSkew behind ours.
		Now: func() time.Time { return req.Now().Add(-ClockSkew) }})
	idt, err := verifier.Verify(ctx, raw)
	if err != nil {
		return none, app.Wrap(app.EUNAUTHORIZED, err, "the ID token was not accepted: %s", verifyReason(err))
	}
	if idt.Nonce != req.Nonce {
		return none, refused("the ID token was not accepted: its nonce does not belong to this sign-in")
	}
	if idt.IssuedAt.After(req.Now().Add(ClockSkew)) {
		return none, refused("the ID token was not accepted: it was issued in the future (the clocks disagree)")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return none, app.Wrap(app.EUNAUTHORIZED, err, "the ID token was not accepted: its claims are not readable")
	}
	return identity(idt.Subject, claims, c.GroupsClaim), nil
}

// verifyReason names what failed in words fit for the user and the audit
// log; the library's own error stays the cause, for the server log.
func verifyReason(err error) string {
	var exp *gooidc.TokenExpiredError
	msg := err.Error()
	switch {
	case errors.As(err, &exp):
		return "it has expired"
	case strings.Contains(msg, "audience"):
		return "it was issued for another client (audience)"
	case strings.Contains(msg, "different provider"):
		return "it was issued by another issuer"
	case strings.Contains(msg, "signature"), strings.Contains(msg, "malformed"):
		return "its signature does not verify"
	case strings.Contains(msg, "nbf"):
		return "it is not valid yet"
	}
	return "it is invalid"
}

// protocolClaims are the ID token's plumbing, not facts about the person.
var protocolClaims = []string{"nonce", "at_hash", "c_hash", "sid", "azp", "auth_time", "amr", "acr"}

func identity(subject string, claims map[string]any, groupsClaim string) sso.Identity {
	id := sso.Identity{Subject: subject, Claims: claims}
	for _, k := range protocolClaims {
		delete(claims, k)
	}
	email, _ := claims["email"].(string)
	// An address the provider says it never verified could be anybody's.
	if verified, ok := claims["email_verified"].(bool); !ok || verified {
		id.Email = email
	}
	id.Name, _ = claims["name"].(string)
	switch g := claims[groupsClaim].(type) {
	case []any:
		for _, v := range g {
			if s, ok := v.(string); ok {
				id.Groups = append(id.Groups, s)
			}
		}
	case string:
		id.Groups = []string{g}
	}
	return id
}
