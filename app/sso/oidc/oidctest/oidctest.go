// Package oidctest runs a real OpenID provider (github.com/zitadel/oidc's
// op, on its example storage) in the test process: users the test controls
// (subjects, emails, groups), signing keys it can rotate, and hooks that
// tamper with the next ID token the way an attacker or a broken provider
// would. Test code only.
package oidctest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/example/server/storage"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// ClientID and ClientSecret are the one client the provider knows.
const (
	ClientID     = "nexplane"
	ClientSecret = "client-secret-for-tests"
)

// User is a person the provider can sign in.
type User struct {
	Subject       string
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
}

// Server is a running OpenID provider. Its Issuer is http on loopback.
type Server struct {
	Issuer string

	mu     sync.Mutex
	users  map[string]*User
	next   string // subject of whoever signs in next
	keys   []signingKey
	tamper func(token string) string // applied to the next ID token once
	*storage.Storage
}

type signingKey struct {
	id  string
	key *rsa.PrivateKey
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.key }
func (k signingKey) ID() string                                  { return k.id }

type publicKey struct{ signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.key.PublicKey }

// Start runs a provider until the test ends. Its client accepts any
// loopback redirect URI ending in /callback.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{users: map[string]*User{}}
	s.keys = []signingKey{newKey(tb)}
	client := storage.WebClient(ClientID, ClientSecret, "http://127.0.0.1/unused")
	s.Storage = storage.NewStorageWithClients(userStore{s}, map[string]*storage.Client{ClientID: client})

	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	s.Issuer = "http://" + srv.Listener.Addr().String()
	key := sha256.Sum256([]byte("oidctest crypto key"))
	provider, err := op.NewProvider(&op.Config{CryptoKey: key, CodeMethodS256: true, AuthMethodPost: true},
		s, op.StaticIssuer(s.Issuer), op.WithAllowInsecure())
	if err != nil {
		tb.Fatalf("oidctest: new provider: %v", err)
	}
	callback := op.AuthCallbackURL(provider)
	interceptor := op.NewIssuerInterceptor(provider.IssuerFromRequest)
	// The login UI signs in whoever the test chose, without a form.
	mux.Handle("/login/username", interceptor.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("authRequestID")
		s.mu.Lock()
		next := s.next
		s.mu.Unlock()
		if err := s.CheckUsernamePassword(next, "password", id); err != nil {
			http.Error(w, "oidctest: no user to sign in: "+err.Error(), http.StatusBadRequest)
			return
		}
		http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
	}))
	mux.Handle("/oauth/token", s.tamperTokens(provider))
	mux.Handle("/", provider)
	srv.Start()
	tb.Cleanup(srv.Close)
	return s
}

func newKey(tb testing.TB) signingKey {
	tb.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatalf("oidctest: key: %v", err)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	return signingKey{id: fmt.Sprintf("%x", id), key: k}
}

// SetUser adds or replaces a user (a group change takes effect at the
// user's next sign-in).
func (s *Server) SetUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[u.Subject] = &u
}

// SignInAs makes subject the person who signs in at the next redirect.
func (s *Server) SignInAs(subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = subject
}

// RotateKeys signs from now on with a new key and publishes only it: a
// verifier that cached the old key must fetch the key set again.
func (s *Server) RotateKeys(tb testing.TB) {
	k := newKey(tb)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = []signingKey{k}
}

// TamperNext rewrites the claims of the next ID token and signs it again
// with the provider's key (wrong audience, expired, issued in the future).
func (s *Server) TamperNext(tb testing.TB, edit func(claims map[string]any)) {
	s.mu.Lock()
	key := s.keys[0]
	s.mu.Unlock()
	s.setTamper(func(token string) string { return resign(tb, token, key, edit) })
}

// ForgeNext signs the next ID token with a key the provider never
// published, under the published key's id: its signature does not verify.
func (s *Server) ForgeNext(tb testing.TB) {
	s.mu.Lock()
	rogue := signingKey{id: s.keys[0].id, key: newKey(tb).key}
	s.mu.Unlock()
	s.setTamper(func(token string) string { return resign(tb, token, rogue, func(map[string]any) {}) })
}

func (s *Server) setTamper(f func(string) string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tamper = f
}

func resign(tb testing.TB, token string, key signingKey, edit func(map[string]any)) string {
	parts := strings.Split(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		tb.Errorf("oidctest: decode id token: %v", err)
		return token
	}
	claims := map[string]any{}
	if err := json.Unmarshal(payload, &claims); err != nil {
		tb.Errorf("oidctest: decode id token claims: %v", err)
		return token
	}
	edit(claims)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key.key, KeyID: key.id}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		tb.Errorf("oidctest: signer: %v", err)
		return token
	}
	b, _ := json.Marshal(claims)
	jws, err := signer.Sign(b)
	if err != nil {
		tb.Errorf("oidctest: sign: %v", err)
		return token
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		tb.Errorf("oidctest: serialize: %v", err)
		return token
	}
	return out
}

// tamperTokens applies the pending tamper hook to the token endpoint's
// answer.
func (s *Server) tamperTokens(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		tamper := s.tamper
		s.tamper = nil
		s.mu.Unlock()
		if tamper == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		var resp map[string]any
		if rec.Code == http.StatusOK && json.Unmarshal(body, &resp) == nil {
			if tok, ok := resp["id_token"].(string); ok {
				resp["id_token"] = tamper(tok)
				body, _ = json.Marshal(resp)
			}
		}
		for k, v := range rec.Header() {
			if k != "Content-Length" {
				w.Header()[k] = v
			}
		}
		w.WriteHeader(rec.Code)
		_, _ = bytes.NewReader(body).WriteTo(w)
	})
}

// SigningKey implements op.Storage with the current key.
func (s *Server) SigningKey(context.Context) (op.SigningKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys[0], nil
}

// SignatureAlgorithms implements op.Storage.
func (s *Server) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

// KeySet implements op.Storage with the published keys.
func (s *Server) KeySet(context.Context) ([]op.Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]op.Key, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, publicKey{k})
	}
	return out, nil
}

// GetClientByClientID implements op.Storage: the example client, with
// redirect URIs on any loopback port.
func (s *Server) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return loopbackClient{c}, nil
}

type loopbackClient struct{ op.Client }

func (loopbackClient) RedirectURIGlobs() []string {
	return []string{"http://127.0.0.1:*/login/sso/*/callback", "https://127.0.0.1:*/login/sso/*/callback"}
}
func (loopbackClient) PostLogoutRedirectURIGlobs() []string { return nil }

// SetUserinfoFromRequest implements op.CanSetUserinfoFromRequest: the ID
// token carries the email, name and groups whatever the scopes.
func (s *Server) SetUserinfoFromRequest(_ context.Context, info *zoidc.UserInfo, req op.IDTokenRequest, _ []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[req.GetSubject()]
	if !ok {
		return fmt.Errorf("oidctest: unknown user %q", req.GetSubject())
	}
	info.Subject = u.Subject
	info.Email = u.Email
	info.EmailVerified = zoidc.Bool(u.EmailVerified)
	if !u.EmailVerified {
		// The field drops a false value; a provider saying "not
		// verified" must say so.
		info.AppendClaims("email_verified", false)
	}
	info.Name = u.Name
	if u.Groups != nil {
		info.AppendClaims("groups", u.Groups)
	}
	return nil
}

// userStore shows the test's users to the example storage.
type userStore struct{ s *Server }

func (us userStore) GetUserByID(id string) *storage.User { return us.GetUserByUsername(id) }

func (us userStore) GetUserByUsername(name string) *storage.User {
	us.s.mu.Lock()
	defer us.s.mu.Unlock()
	u, ok := us.s.users[name]
	if !ok {
		return nil
	}
	return &storage.User{ID: u.Subject, Username: u.Subject, Password: "password", Email: u.Email,
		EmailVerified: u.EmailVerified, FirstName: u.Name}
}

func (userStore) ExampleClientID() string { return storage.ServiceUserID }
