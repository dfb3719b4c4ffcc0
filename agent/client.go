package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
)

// DefaultServerPort is the agent listener's port (NEXPLANE_AGENT_LISTEN
// default :8444), used when the server URL names none.
const DefaultServerPort = "8444"

// maxResponseBytes caps what the agent reads from the server.
const maxResponseBytes = 8 << 20

// certHolder is the current client certificate, swapped on renewal.
type certHolder struct {
	p atomic.Pointer[tls.Certificate]
}

func (h *certHolder) Load() *tls.Certificate   { return h.p.Load() }
func (h *certHolder) Store(c *tls.Certificate) { h.p.Store(c) }

// NormalizeServer checks a server URL and returns "https://host:port".
// Only https is accepted: the whole channel is TLS.
func NormalizeServer(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("server URL: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("server URL %q must look like https://host[:port]", raw)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("server URL %q must have no path, query or user", raw)
	}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = DefaultServerPort
	}
	return "https://" + net.JoinHostPort(host, port), nil
}

// serverName is the host part of a normalized server URL, for SNI and
// certificate verification.
func serverName(server string) string {
	u, err := url.Parse(server)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// client speaks JSON to the agent listener.
type client struct {
	base    string
	tlsConf *tls.Config
	// transport is swapped after a certificate renewal: an HTTP/2
	// connection carries every request and is never idle, so only new
	// connections present the new certificate.
	transport atomic.Pointer[http.Transport]
}

func newClient(base string, tlsConf *tls.Config) *client {
	c := &client{base: base, tlsConf: tlsConf}
	c.transport.Store(newTransport(tlsConf))
	return c
}

func newTransport(tlsConf *tls.Config) *http.Transport {
	return &http.Transport{
		TLSClientConfig:     tlsConf,
		TLSHandshakeTimeout: 15 * time.Second,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 2,
		Proxy:               http.ProxyFromEnvironment,
		ForceAttemptHTTP2:   true,
	}
}

// reconnect makes later requests use new connections (and so the current
// client certificate); requests in flight finish on the old ones, which
// are then closed.
func (c *client) reconnect() {
	old := c.transport.Swap(newTransport(c.tlsConf))
	old.CloseIdleConnections()
	// The old transport is no longer used; its busy connections close
	// once idle (IdleConnTimeout) — sooner, at the next sweep.
	go func() {
		time.Sleep(time.Duration(ops.MaxPollWaitSeconds+5) * time.Second)
		old.CloseIdleConnections()
	}()
}

// closeIdle closes the current transport's idle connections.
func (c *client) closeIdle() { c.transport.Load().CloseIdleConnections() }

// StatusError is a non-2xx answer from the server.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("server answered %d %s", e.Code, http.StatusText(e.Code))
	}
	return fmt.Sprintf("server answered %d: %s", e.Code, e.Message)
}

// do sends in as JSON (when not nil) and decodes a 2xx body into out (when
// not nil).
func (c *client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	// No client-wide timeout: long polls set their own per request.
	resp, err := (&http.Client{Transport: c.transport.Load()}).Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return fmt.Errorf("%s %s: read: %w", method, path, err)
	}
	if len(b) > maxResponseBytes {
		return fmt.Errorf("%s %s: response larger than %d bytes", method, path, maxResponseBytes)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("%s %s: %w", method, path, &StatusError{Code: resp.StatusCode, Message: errorMessage(b)})
	}
	if out == nil || len(bytes.TrimSpace(b)) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode: %w", method, path, err)
	}
	return nil
}

// errorMessage pulls {"error":{"message"}} out of an error body, or a
// short excerpt of whatever came.
func errorMessage(b []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		return e.Error.Message
	}
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// isStatus reports whether err carries a server answer with this code.
func isStatus(err error, code int) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == code
}
