package samlsp

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/nexplane/nexplane/app"
	"github.com/nexplane/nexplane/app/sso"
)

// Refusals a caller tells apart with errors.Is. Finish wraps them in app
// EUNAUTHORIZED errors whose messages say, safely, which check failed.
var (
	// ErrInvalidResponse is any response that fails validation: signature,
	// audience, destination, issuer, time window, unknown request ID.
	ErrInvalidResponse = errors.New("samlsp: response refused")
	// ErrReplayed is an assertion already used once. A ReplayCache returns
	// it (or wraps it) for an assertion ID it has already recorded.
	ErrReplayed = errors.New("samlsp: assertion already used")
)

// ReplayCache remembers the assertions accepted, so each is used once. The
// caller implements it on shared storage (several Nexplane nodes may
// receive the same POST). Consume records assertionID until expiresAt
// (after which the assertion is refused as expired anyway) and returns an
// error wrapping ErrReplayed if it was already recorded; any other error
// refuses the login as an infrastructure failure.
type ReplayCache interface {
	Consume(assertionID string, expiresAt time.Time) error
}

// ServiceProvider is one configured SAML identity provider, seen from our
// side. It holds no per-login state and is safe for concurrent use.
type ServiceProvider struct {
	cfg  Config
	p    *parsed
	skew time.Duration
	now  func() time.Time
}

// Option adjusts New.
type Option func(*ServiceProvider)

// WithClock replaces the wall clock for every time check and timestamp
// (tests, or app's injected clock). crewjam/saml's global clock is never
// touched.
func WithClock(now func() time.Time) Option { return func(s *ServiceProvider) { s.now = now } }

// New validates cfg (filling defaults) and returns the service provider.
func New(cfg Config, opts ...Option) (*ServiceProvider, error) {
	p, err := cfg.parse()
	if err != nil {
		return nil, err
	}
	s := &ServiceProvider{cfg: cfg, p: p, skew: cfg.ClockSkew(), now: time.Now}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// sp builds crewjam's ServiceProvider for one call, so per-call fields
// (ReplayCache) are never shared between goroutines.
func (s *ServiceProvider) sp(replay saml.AssertionReplayCache) *saml.ServiceProvider {
	return &saml.ServiceProvider{
		EntityID:                         s.cfg.EntityID,
		Key:                              s.p.key,
		Certificate:                      s.p.cert,
		MetadataURL:                      s.p.metadataURL,
		AcsURL:                           s.p.acsURL,
		IDPMetadata:                      s.p.idp,
		AuthnNameIDFormat:                saml.UnspecifiedNameIDFormat, // the IdP's configured NameID
		SignatureMethod:                  signatureMethod(s.p),
		AssertionConsumerServiceBindings: []string{saml.HTTPPostBinding},
		// No validUntil: admins often upload the metadata once, and IdPs
		// that honour validUntil would stop trusting it.
		MetadataOmitValidUntil: true,
		ReplayCache:            replay,
		RejectSHA1Signatures:   true,
		// Frozen at the call's start: one consistent "now" for every check
		// in it, and crewjam's global clock is never involved.
		Clock: dsig.NewFakeClockAt(s.now()),
	}
}

func signatureMethod(p *parsed) string {
	if p.cert.PublicKeyAlgorithm == x509.ECDSA {
		return dsig.ECDSASHA256SignatureMethod
	}
	return dsig.RSASHA256SignatureMethod
}

// Metadata is the SP metadata XML to serve at MetadataURL (and to give the
// IdP's admin): entity ID, ACS URL (HTTP-POST), the SP certificate.
func (s *ServiceProvider) Metadata() ([]byte, error) {
	b, err := xml.MarshalIndent(s.sp(nil).Metadata(), "", "  ")
	if err != nil {
		return nil, fmt.Errorf("samlsp: marshal metadata: %w", err)
	}
	return append([]byte(xml.Header), b...), nil
}

// Begin starts a login: it returns the IdP URL to redirect the browser to
// (a signed HTTP-Redirect AuthnRequest) and the request's ID. The caller
// keeps requestID server-side, bound to this browser (its pre-login
// session), and passes it to Finish: a response answering any other
// request is refused. relayState comes back unchanged with the response;
// keep it short (at most 80 bytes) and free of secrets, an opaque key is
// best.
func (s *ServiceProvider) Begin(relayState string) (redirectURL, requestID string, err error) {
	sp := s.sp(nil)
	req, err := sp.MakeAuthenticationRequest(s.p.ssoURL, saml.HTTPRedirectBinding, saml.HTTPPostBinding)
	if err != nil {
		return "", "", fmt.Errorf("samlsp: authn request: %w", err)
	}
	u, err := req.Redirect(relayState, sp)
	if err != nil {
		return "", "", fmt.Errorf("samlsp: redirect: %w", err)
	}
	return u.String(), req.ID, nil
}

// Finish validates the SAMLResponse form value POSTed to the ACS URL and
// returns who signed in. requestIDs are the IDs from Begin that this
// browser may still answer (the caller forgets the one used, whatever the
// outcome); replay records the assertion, so the same response POSTed twice
// is refused. The response (or every assertion in it) must carry a valid
// signature by a certificate in the IdP metadata, be addressed to ACSURL
// and this entity ID (audience), and be within its validity window give or
// take the clock skew.
func (s *ServiceProvider) Finish(samlResponse string, requestIDs []string, replay ReplayCache) (sso.Identity, error) {
	if replay == nil {
		return sso.Identity{}, errors.New("samlsp: Finish needs a ReplayCache")
	}
	if len(requestIDs) == 0 {
		// Every login here is SP-initiated; an unsolicited response has
		// nothing to be bound to.
		return sso.Identity{}, refused(errors.New("no outstanding request"), "no sign-in was started in this browser, or it was already completed; start again")
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(samlResponse), ""))
	if err != nil || len(raw) == 0 {
		return sso.Identity{}, refused(err, "the SAMLResponse is missing or not base64")
	}
	rc := &replayAdapter{cache: replay}
	assertion, err := s.sp(rc).ParseXMLResponse(raw, requestIDs, s.p.acsURL)
	if err != nil {
		if rc.infraErr != nil {
			return sso.Identity{}, app.Wrap(app.EUNAVAILABLE, rc.infraErr, "recording the SAML assertion as used failed; try again")
		}
		return sso.Identity{}, classifyRefusal(err)
	}
	if err := s.checkSkew(assertion); err != nil {
		return sso.Identity{}, err
	}
	return s.identity(assertion)
}

// replayAdapter keeps an infrastructure failure of the caller's cache apart
// from a replay, which crewjam reports the same way.
type replayAdapter struct {
	cache    ReplayCache
	infraErr error
}

func (r *replayAdapter) Consume(id string, expiresAt time.Time) error {
	err := r.cache.Consume(id, expiresAt)
	if err != nil && !errors.Is(err, ErrReplayed) {
		r.infraErr = err
	}
	return err
}

// checkSkew applies the configured clock skew where it is narrower than
// crewjam's fixed MaxClockSkew.
func (s *ServiceProvider) checkSkew(a *saml.Assertion) error {
	now := s.now()
	notYet := func(t time.Time) bool { return !t.IsZero() && t.Add(-s.skew).After(now) }
	expired := func(t time.Time) bool { return !t.IsZero() && !now.Before(t.Add(s.skew)) }
	var c saml.Conditions
	if a.Conditions != nil {
		c = *a.Conditions
	}
	if notYet(a.IssueInstant) || notYet(c.NotBefore) {
		return refused(saml.ErrNotYetValid, "the assertion is not valid yet: the identity provider's clock is ahead of ours by more than %s", s.skew)
	}
	notOnOrAfter := []time.Time{c.NotOnOrAfter}
	if a.Subject != nil {
		for _, sc := range a.Subject.SubjectConfirmations {
			if sc.SubjectConfirmationData != nil {
				notOnOrAfter = append(notOnOrAfter, sc.SubjectConfirmationData.NotOnOrAfter)
			}
		}
	}
	if slices.ContainsFunc(notOnOrAfter, expired) {
		return refused(saml.ErrExpired, "the assertion has expired (or our clocks differ by more than %s); sign in again", s.skew)
	}
	return nil
}

// classifyRefusal names the failed check in a message safe to show.
// crewjam's own error text stays in the cause, for logs.
func classifyRefusal(err error) error {
	var ire *saml.InvalidResponseError
	cause := err
	if errors.As(err, &ire) && ire.PrivateErr != nil {
		cause = ire.PrivateErr // never Response: it is the whole assertion
	}
	var bad saml.ErrBadStatus
	for _, c := range []struct {
		target error
		msg    string
	}{
		{ErrReplayed, "this sign-in response was already used; start again"},
		{saml.ErrAssertionReplayed, "this sign-in response was already used; start again"},
		{saml.ErrInvalidSignature, "the response is not signed by the identity provider's certificate (check the IdP metadata is current)"},
		{saml.ErrAudienceMismatch, "the assertion is meant for another service provider (audience); check the entity ID configured at the IdP"},
		{saml.ErrDestinationMismatch, "the response was addressed to another URL; check the ACS URL configured at the IdP"},
		{saml.ErrRequestIDMismatch, "the response does not answer a sign-in started in this browser; start again"},
		{saml.ErrIssuerMismatch, "the response comes from another identity provider than the one configured"},
		{saml.ErrExpired, "the response has expired (or the clocks differ too much); sign in again"},
		{saml.ErrNotYetValid, "the response is not valid yet: the identity provider's clock is ahead of ours"},
		{saml.ErrDecryptionFailed, "the encrypted assertion could not be decrypted with the SP key; check the certificate the IdP has"},
	} {
		if errors.Is(cause, c.target) {
			return refused(cause, "%s", c.msg)
		}
	}
	// crewjam reports a missing signature with an unexported error, not
	// ErrInvalidSignature; its text is the only handle.
	if strings.Contains(cause.Error(), "signature element not present") {
		return refused(cause, "the response is not signed by the identity provider (signed assertions are required)")
	}
	if errors.As(cause, &bad) {
		return refused(cause, "the identity provider did not sign you in (status %s)", bad.Status)
	}
	return refused(cause, "the response is malformed or incomplete")
}

func refused(cause error, format string, args ...any) error {
	return app.Wrap(app.EUNAUTHORIZED, errors.Join(ErrInvalidResponse, cause), "SAML sign-in refused: "+format, args...)
}

// identity reads the subject and the configured attributes.
func (s *ServiceProvider) identity(a *saml.Assertion) (sso.Identity, error) {
	attrs := map[string][]string{}
	values := func(name string) []string {
		var out []string
		for _, st := range a.AttributeStatements {
			for _, at := range st.Attributes {
				if at.Name == name || at.FriendlyName == name {
					for _, v := range at.Values {
						out = append(out, v.Value)
					}
				}
			}
		}
		return out
	}
	for _, st := range a.AttributeStatements {
		for _, at := range st.Attributes {
			key := at.Name
			if at.FriendlyName != "" {
				key = at.FriendlyName
			}
			for _, v := range at.Values {
				attrs[key] = append(attrs[key], v.Value)
			}
		}
	}
	first := func(name string) string {
		if v := values(name); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	nameID := ""
	if a.Subject != nil && a.Subject.NameID != nil {
		nameID = a.Subject.NameID.Value
	}
	subject := nameID
	if s.cfg.SubjectAttr != "" {
		subject = first(s.cfg.SubjectAttr)
	}
	if subject == "" {
		what := "NameID"
		if s.cfg.SubjectAttr != "" {
			what = "attribute " + s.cfg.SubjectAttr
		}
		return sso.Identity{}, refused(errors.New("empty subject"), "the assertion has no %s to link the account by; check subject_attr and the IdP's attribute release", what)
	}
	groups := slices.Compact(slices.Sorted(slices.Values(values(s.cfg.GroupsAttr))))
	claims := map[string]any{"name_id": nameID, "issuer": a.Issuer.Value, "attributes": attrs}
	if a.Subject != nil && a.Subject.NameID != nil {
		claims["name_id_format"] = a.Subject.NameID.Format
	}
	return sso.Identity{Subject: subject, Email: first(s.cfg.EmailAttr), Name: first(s.cfg.NameAttr), Groups: groups, Claims: claims}, nil
}
