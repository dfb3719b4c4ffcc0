// Package samlsp is Nexplane as a SAML 2.0 service provider: SP-initiated
// login (HTTP-Redirect AuthnRequest, HTTP-POST response) with assertions
// signed by the identity provider, on github.com/crewjam/saml. It returns an
// sso.Identity; what that identity may do is app's decision.
//
// It keeps no state. The caller (the identity provider framework) stores,
// per provider, a Config (with the SP key from the vault), and per login
// attempt the request ID Begin returns, server-side and bound to the
// browser; Finish takes the POSTed SAMLResponse, the request IDs still
// outstanding for that browser, and a ReplayCache that remembers assertion
// IDs already used.
package samlsp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"time"

	"github.com/crewjam/saml"
	crewsp "github.com/crewjam/saml/samlsp"

	"github.com/nexplane/nexplane/app"
)

// Config is one SAML identity provider. Everything but KeyPEM is plain
// configuration; KeyPEM is a secret the caller seals in the vault (it has no
// JSON name, so the config never carries it).
type Config struct {
	// MetadataURL is where this SP's metadata is served, e.g.
	// https://nexplane.example.org/login/sso/{id}/saml/metadata. It is the
	// entity ID too unless EntityID is set.
	MetadataURL string `json:"metadata_url"`
	EntityID    string `json:"entity_id,omitempty"`
	// ACSURL receives the IdP's POSTed response, e.g.
	// https://nexplane.example.org/login/sso/{id}/saml/acs.
	ACSURL string `json:"acs_url"`

	// CertPEM and KeyPEM are the SP's signing key pair (GenerateKeyPair):
	// AuthnRequests are signed with it and IdPs may encrypt assertions to
	// it. An RSA key is needed for encrypted assertions.
	CertPEM string `json:"sp_cert_pem"`
	KeyPEM  string `json:"-"`

	// IDPMetadataXML is the IdP's metadata (uploaded, or fetched once with
	// FetchIDPMetadata); it holds the certificates assertions must be
	// signed with.
	IDPMetadataXML string `json:"idp_metadata_xml"`

	// SubjectAttr names the attribute accounts are linked by; empty means
	// the NameID, which must then be persistent (not transient, not an
	// e-mail address that may be reassigned).
	SubjectAttr string `json:"subject_attr,omitempty"`
	// Attribute names (matched against the attribute's Name or
	// FriendlyName). Defaults: mail, cn, groups.
	EmailAttr  string `json:"email_attr,omitempty"`
	NameAttr   string `json:"name_attr,omitempty"`
	GroupsAttr string `json:"groups_attr,omitempty"`

	// ClockSkewSeconds is how far the IdP's clock may be off ours when
	// checking NotBefore and NotOnOrAfter; 0 means DefaultClockSkew, at most
	// MaxClockSkew.
	ClockSkewSeconds int `json:"clock_skew_seconds,omitempty"`
}

// Defaults Validate fills in.
const (
	DefaultEmailAttr  = "mail"
	DefaultNameAttr   = "cn"
	DefaultGroupsAttr = "groups"
	DefaultClockSkew  = 90 * time.Second
)

// MaxClockSkew is crewjam/saml's own allowance (saml.MaxClockSkew, which
// this package never changes), applied before the configured one.
const MaxClockSkew = 180 * time.Second

// String, Format and LogValue keep KeyPEM out of logs and %v.
func (c Config) String() string { return "saml identity provider for " + c.entityID() }

// Format prints String for every verb, so %#v cannot leak KeyPEM.
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue is String, for slog.
func (c Config) LogValue() slog.Value { return slog.StringValue(c.String()) }

func (c *Config) entityID() string {
	if c.EntityID != "" {
		return c.EntityID
	}
	return c.MetadataURL
}

// ClockSkew is the allowed difference between the IdP's clock and ours.
func (c *Config) ClockSkew() time.Duration {
	if c.ClockSkewSeconds <= 0 {
		return DefaultClockSkew
	}
	return time.Duration(c.ClockSkewSeconds) * time.Second
}

// Validate checks c and fills in the default attribute names. Its errors are
// app EINVALID errors naming the field; they never quote KeyPEM.
func (c *Config) Validate() error {
	_, err := c.parse()
	return err
}

// parsed is a Config turned into what crewjam/saml needs.
type parsed struct {
	metadataURL, acsURL url.URL
	key                 crypto.Signer
	cert                *x509.Certificate
	idp                 *saml.EntityDescriptor
	ssoURL              string
}

func (c *Config) parse() (*parsed, error) {
	bad := func(format string, args ...any) error {
		return app.Errorf(app.EINVALID, "saml identity provider: "+format, args...)
	}
	var p parsed
	for _, u := range []struct {
		field string
		s     string
		dst   *url.URL
	}{{"metadata_url", c.MetadataURL, &p.metadataURL}, {"acs_url", c.ACSURL, &p.acsURL}} {
		parsedURL, err := url.Parse(u.s)
		if err != nil || parsedURL.Host == "" || parsedURL.Fragment != "" {
			return nil, bad("%s %q is not an absolute URL", u.field, u.s)
		}
		if parsedURL.Scheme != "https" && !(parsedURL.Scheme == "http" && app.IsLoopbackHost(parsedURL.Hostname())) {
			return nil, bad("%s must be https:// (plain http:// only on localhost)", u.field)
		}
		*u.dst = *parsedURL
	}
	if c.EntityID != "" && len(c.EntityID) > 1024 {
		return nil, bad("entity_id is longer than 1024 characters")
	}

	cert, key, err := parseKeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		return nil, bad("%s", err)
	}
	p.cert, p.key = cert, key

	if c.IDPMetadataXML == "" {
		return nil, bad("idp_metadata_xml is required (upload the IdP's metadata or fetch it from its metadata URL)")
	}
	idp, err := crewsp.ParseMetadata([]byte(c.IDPMetadataXML))
	if err != nil {
		return nil, bad("idp_metadata_xml does not parse as SAML metadata: %s", err)
	}
	if len(idp.IDPSSODescriptors) == 0 {
		return nil, bad("idp_metadata_xml describes %q, which is not an identity provider (no IDPSSODescriptor)", idp.EntityID)
	}
	for _, d := range idp.IDPSSODescriptors {
		for _, s := range d.SingleSignOnServices {
			if s.Binding == saml.HTTPRedirectBinding && p.ssoURL == "" {
				p.ssoURL = s.Location
			}
		}
	}
	if p.ssoURL == "" {
		return nil, bad("the IdP metadata offers no HTTP-Redirect SingleSignOnService")
	}
	if !hasSigningKey(idp) {
		return nil, bad("the IdP metadata has no signing certificate, so its assertions could not be verified")
	}
	p.idp = idp

	if c.ClockSkewSeconds < 0 || time.Duration(c.ClockSkewSeconds)*time.Second > MaxClockSkew {
		return nil, bad("clock_skew_seconds must be between 1 and %d (0 means %d)", int(MaxClockSkew.Seconds()), int(DefaultClockSkew.Seconds()))
	}
	for _, a := range []struct {
		v   *string
		def string
	}{{&c.EmailAttr, DefaultEmailAttr}, {&c.NameAttr, DefaultNameAttr}, {&c.GroupsAttr, DefaultGroupsAttr}} {
		if *a.v == "" {
			*a.v = a.def
		}
	}
	return &p, nil
}

func hasSigningKey(idp *saml.EntityDescriptor) bool {
	for _, d := range idp.IDPSSODescriptors {
		for _, k := range d.KeyDescriptors {
			if (k.Use == "" || k.Use == "signing") && len(k.KeyInfo.X509Data.X509Certificates) > 0 {
				return true
			}
		}
	}
	return false
}

func parseKeyPair(certPEM, keyPEM string) (*x509.Certificate, crypto.Signer, error) {
	cb, _ := pem.Decode([]byte(certPEM))
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, nil, errors.New("sp_cert_pem is not a PEM certificate (generate a key pair for the SP)")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("sp_cert_pem does not parse: %v", err)
	}
	kb, _ := pem.Decode([]byte(keyPEM))
	if kb == nil {
		return nil, nil, errors.New("the SP private key is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		// Never quote the parse error: it may echo key bytes.
		return nil, nil, errors.New("the SP private key is not a PKCS#8 private key")
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, nil, errors.New("the SP private key cannot sign")
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := signer.Public().(equaler); !ok || !pub.Equal(cert.PublicKey) {
		return nil, nil, errors.New("the SP private key does not match sp_cert_pem")
	}
	return cert, signer, nil
}

// GenerateKeyPair makes an SP key pair for an admin: RSA 2048 (so IdPs can
// also encrypt assertions to it) and a self-signed certificate for
// entityID valid for ten years from now (SAML metadata uses certificates
// only as key containers; rotating means publishing new metadata).
func GenerateKeyPair(entityID string, now time.Time) (certPEM, keyPEM string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", fmt.Errorf("samlsp: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return "", "", fmt.Errorf("samlsp: serial: %w", err)
	}
	cn := entityID
	if len(cn) > 64 { // the X.509 upper bound for a common name
		cn = cn[:64]
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", fmt.Errorf("samlsp: self-sign: %w", err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("samlsp: marshal key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb})), nil
}

// maxMetadata bounds a fetched metadata document; real IdP metadata is a
// few kilobytes, federation aggregates are not supported here.
const maxMetadata = 1 << 20

// FetchIDPMetadata downloads an IdP's metadata once, for the admin to
// store as IDPMetadataXML (it is the trust anchor, so it is not re-fetched
// silently). It needs https (plain http only on localhost), gives up after
// timeout, and checks the document parses as IdP metadata. client may be
// nil for http.DefaultClient's transport.
func FetchIDPMetadata(ctx context.Context, client *http.Client, metadataURL string, timeout time.Duration) ([]byte, error) {
	u, err := url.Parse(metadataURL)
	if err != nil || u.Host == "" {
		return nil, app.Errorf(app.EINVALID, "idp metadata url %q is not an absolute URL", metadataURL)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && app.IsLoopbackHost(u.Hostname())) {
		return nil, app.Errorf(app.EINVALID, "idp metadata url must be https:// (plain http:// only on localhost): the metadata holds the certificates logins are trusted by")
	}
	if client == nil {
		client = &http.Client{}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("samlsp: metadata request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, app.Wrap(app.EUNAVAILABLE, err, "fetching the IdP metadata from %s failed", u.Redacted())
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, app.Errorf(app.EUNAVAILABLE, "fetching the IdP metadata from %s: HTTP %d", u.Redacted(), resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxMetadata+1))
	if err != nil {
		return nil, app.Wrap(app.EUNAVAILABLE, err, "reading the IdP metadata from %s failed", u.Redacted())
	}
	if len(body) > maxMetadata {
		return nil, app.Errorf(app.EINVALID, "the IdP metadata at %s is larger than %d bytes", u.Redacted(), maxMetadata)
	}
	ed, err := crewsp.ParseMetadata(body)
	if err != nil || len(ed.IDPSSODescriptors) == 0 {
		return nil, app.Errorf(app.EINVALID, "%s did not return SAML identity provider metadata", u.Redacted())
	}
	return bytes.TrimSpace(body), nil
}
