package auth

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/nexplane/nexplane/app"
)

// DefaultCost is the bcrypt cost for stored password hashes (ARCHITECTURE.md).
const DefaultCost = 12

// preHashKey separates our pre-hash from any other use of HMAC-SHA256 and
// versions the scheme; see the package comment.
const preHashKey = "nexplane-password-v1"

// DefaultConcurrency is how many hashes run at once when NewHasher is given
// 0: half the CPUs, at least two (ARCHITECTURE.md: ~8.7 logins/s on 2 cores).
// Go's scheduler preempts hashing goroutines, so other requests still run
// while both slots are busy; a login storm only queues behind the semaphore.
func DefaultConcurrency() int { return max(2, runtime.NumCPU()/2) }

// QueuePerSlot is how many callers NewHasher lets wait per hashing slot:
// at cost 12 (~0.25 s a hash) the last of them waits about two seconds,
// and anyone beyond is told to come back rather than left hanging.
const QueuePerSlot = 8

// queueRetryAfter is what a caller turned away by a full queue is told: by
// then the queue has drained several times over.
const queueRetryAfter = 2 * time.Second

// Hasher implements app.PasswordHasher with bcrypt over an HMAC-SHA256
// pre-hash, running at most a fixed number of hashes at once and letting
// only a bounded number of callers wait for them.
type Hasher struct {
	cost  int
	sem   chan struct{} // a slot per concurrent bcrypt run
	queue chan struct{} // a ticket per caller running or waiting
	dummy []byte
}

// errQueueFull turns a caller away when every ticket is taken: a login
// storm gets a quick 503 and Retry-After instead of waits that end in
// client timeouts.
var errQueueFull = &app.Error{Code: app.EUNAVAILABLE, RetryAfter: queueRetryAfter,
	Message: "the server is busy checking passwords; try again in a moment"}

var _ app.PasswordHasher = (*Hasher)(nil)

// NewHasher returns a Hasher with the given bcrypt cost (0 means DefaultCost;
// tests pass bcrypt.MinCost) running at most concurrency hashes at once
// (0 or less means DefaultConcurrency).
//
// It panics on a cost outside bcrypt's range: costs are constants chosen in
// code, and bcrypt.GenerateFromPassword would otherwise silently replace a
// too-small cost with its own default.
//
// NewHasher computes DummyHash at the given cost, so it takes one hash time.
func NewHasher(cost, concurrency int) *Hasher {
	if concurrency <= 0 {
		concurrency = DefaultConcurrency()
	}
	return NewHasherQueue(cost, concurrency, concurrency*QueuePerSlot)
}

// NewHasherQueue is NewHasher letting at most queue callers wait for a slot
// (0 or less: none wait); any further caller gets app.EUNAVAILABLE at once.
func NewHasherQueue(cost, concurrency, queue int) *Hasher {
	if cost == 0 {
		cost = DefaultCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		panic(fmt.Sprintf("auth: bcrypt cost %d outside [%d, %d]", cost, bcrypt.MinCost, bcrypt.MaxCost))
	}
	if concurrency <= 0 {
		concurrency = DefaultConcurrency()
	}
	h := &Hasher{cost: cost, sem: make(chan struct{}, concurrency),
		queue: make(chan struct{}, concurrency+max(0, queue))}

	// The dummy hash is of a random password nobody knows, so comparing
	// against it always fails, in the same time as a real comparison.
	random := make([]byte, 32)
	if _, err := rand.Read(random); err != nil {
		panic(fmt.Sprintf("auth: read random dummy password: %v", err)) // crypto/rand does not fail on supported platforms
	}
	dummy, err := bcrypt.GenerateFromPassword(preHash(base64.RawStdEncoding.EncodeToString(random)), cost)
	if err != nil {
		panic(fmt.Sprintf("auth: hash dummy password: %v", err)) // only fails on bad cost or input length, both ruled out
	}
	h.dummy = dummy
	return h
}

// preHash maps any password to 44 bytes for bcrypt; see the package comment.
func preHash(password string) []byte {
	m := hmac.New(sha256.New, []byte(preHashKey))
	m.Write([]byte(password))
	sum := m.Sum(nil)
	out := make([]byte, base64.StdEncoding.EncodedLen(len(sum)))
	base64.StdEncoding.Encode(out, sum)
	return out
}

// acquire takes a queue ticket without waiting (errQueueFull when there is
// none), then waits for a hashing slot or for ctx to end.
func (h *Hasher) acquire(ctx context.Context) error {
	// Checked first because select picks at random among ready cases: a
	// cancelled caller must not get a slot just because one is free.
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.queue <- struct{}{}:
	default:
		return errQueueFull
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		<-h.queue
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.sem; <-h.queue }

// Hash returns the bcrypt hash of the pre-hash of password's NFC form
// (app.NormalizePassword). It does not apply the password policy; callers
// run app.ValidatePassword first.
func (h *Hasher) Hash(ctx context.Context, password string) ([]byte, error) {
	if err := h.acquire(ctx); err != nil {
		return nil, fmt.Errorf("auth: hash password: waiting for a hashing slot: %w", err)
	}
	defer h.release()
	hash, err := bcrypt.GenerateFromPassword(preHash(app.NormalizePassword(password)), h.cost)
	if err != nil {
		return nil, fmt.Errorf("auth: hash password: %w", err)
	}
	return hash, nil
}

// Compare checks password against hash: nil on a match,
// app.ErrPasswordMismatch on a mismatch, another error if it could not run.
// It tries the NFC form first; hashes made before passwords were normalised
// hold the raw form as typed, so when that differs it is tried too.
func (h *Hasher) Compare(ctx context.Context, hash []byte, password string) error {
	if err := h.acquire(ctx); err != nil {
		return fmt.Errorf("auth: compare password: waiting for a hashing slot: %w", err)
	}
	defer h.release()
	nfc := app.NormalizePassword(password)
	err := bcrypt.CompareHashAndPassword(hash, preHash(nfc))
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) && nfc != password {
		err = bcrypt.CompareHashAndPassword(hash, preHash(password))
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return app.ErrPasswordMismatch
	default:
		// A malformed stored hash is a data problem, not a wrong password.
		return fmt.Errorf("auth: compare password: stored hash unusable: %w", err)
	}
}

// DummyHash is a hash of a random password made at construction; compare
// against it when the account does not exist so that both cases cost the same.
func (h *Hasher) DummyHash() []byte { return bytes.Clone(h.dummy) }

// Cost reports the bcrypt cost new hashes use.
func (h *Hasher) Cost() int { return h.cost }

// NeedsRehash reports whether hash was made at a cost other than the
// Hasher's, so the caller may re-hash the password after a successful login.
func (h *Hasher) NeedsRehash(hash []byte) bool {
	c, err := bcrypt.Cost(hash)
	return err != nil || c != h.cost
}
