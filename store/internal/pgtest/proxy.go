package pgtest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// ProxyMode is how a Proxy treats connections.
type ProxyMode int

const (
	// Forward passes bytes both ways: the database as it is.
	Forward ProxyMode = iota
	// Refuse closes every connection at once: a database that is down.
	Refuse
	// Blackhole accepts connections and never answers: a database behind
	// a dead network path or hung.
	Blackhole
)

// Proxy is a TCP proxy between a store and PostgreSQL whose behaviour a
// test switches, to see how the store fails when the database does.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  ProxyMode
	conns []net.Conn // every connection accepted or dialled, to sever them
}

// NewProxy listens on a free local port and forwards to the host of the
// PostgreSQL URL target; it stops when the test ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	u, err := url.Parse(target)
	if err != nil {
		tb.Fatalf("proxy: parse target: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: u.Host}
	go p.serve()
	tb.Cleanup(func() {
		ln.Close()
		p.sever()
	})
	return p
}

// URL is target with its host replaced by the proxy's address.
func (p *Proxy) URL(target string) string {
	u, _ := url.Parse(target)
	u.Host = p.ln.Addr().String()
	return u.String()
}

// Set switches the mode. Connections open until now are severed, as an
// outage does, so the pool must reconnect through the new mode.
func (p *Proxy) Set(m ProxyMode) {
	p.mu.Lock()
	p.mode = m
	p.mu.Unlock()
	p.sever()
}

func (p *Proxy) sever() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		if mode != Refuse {
			p.conns = append(p.conns, c)
		}
		p.mu.Unlock()
		switch mode {
		case Refuse:
			c.Close()
		case Blackhole:
			// Held open and never read: the client waits for an answer.
		case Forward:
			go p.forward(c)
		}
	}
}

func (p *Proxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, up)
	p.mu.Unlock()
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}
