package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/nexplane/nexplane/agent/ops"
)

// renewLoop renews the certificate once less than RenewFraction of its
// lifetime remains. Failures retry at the next check; the old certificate
// stays in use meanwhile, so there is never a gap.
func (r *runner) renewLoop(ctx context.Context) {
	b := backoff{min: r.o.BackoffMin, max: r.o.BackoffMax}
	for {
		leaf := r.certs.Load().Leaf
		life := leaf.NotAfter.Sub(leaf.NotBefore)
		wait := min(r.o.RenewCheckInterval, max(life/10, 100*time.Millisecond))
		if renewDue(leaf.NotBefore, leaf.NotAfter, time.Now(), r.o.RenewFraction) {
			if err := r.renew(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				wait = min(wait, b.next())
				r.log.Warn("certificate renewal failed", "err", err, "not_after", leaf.NotAfter, "retry_in", wait)
			} else {
				b.reset()
				continue
			}
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// renewDue reports whether less than fraction of the lifetime remains.
func renewDue(notBefore, notAfter, now time.Time, fraction float64) bool {
	life := notAfter.Sub(notBefore)
	return notAfter.Sub(now) < time.Duration(float64(life)*fraction)
}

// renew makes a new key pair, asks for a certificate over the current mTLS
// channel, stores both and swaps them in for the next connections.
func (r *runner) renew(ctx context.Context) error {
	host, _ := os.Hostname()
	key, csr, err := newKey(host)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var resp ops.RenewResponse
	if err := r.c.do(rctx, http.MethodPost, ops.PathRenew, ops.RenewRequest{CSR: string(csr)}, &resp); err != nil {
		return err
	}
	leaf, err := checkIssued(resp.Certificate, r.st.ca, &key.PublicKey)
	if err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	kp, err := keyPEM(key)
	if err != nil {
		return err
	}
	if err := commitRenewal(r.st.dir, kp, []byte(resp.Certificate)); err != nil {
		return fmt.Errorf("renew: store: %w", err)
	}
	cert, err := tls.X509KeyPair([]byte(resp.Certificate), kp)
	if err != nil {
		return fmt.Errorf("renew: %w", err)
	}
	r.certs.Store(&cert)
	// Open connections present the old certificate (TLS authenticates a
	// connection once); new ones handshake with the new certificate. An
	// open long-poll finishes on its old connection, still valid.
	r.c.reconnect()
	r.log.Info("certificate renewed", "serial", leaf.SerialNumber.Text(16), "not_after", leaf.NotAfter)
	return nil
}
