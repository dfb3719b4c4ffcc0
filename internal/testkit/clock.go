package testkit

import (
	"sync"
	"time"
)

// Clock is a controllable app clock, safe for concurrent use. Pass its Now
// wherever a clock is configured and move it with Advance.
type Clock struct {
	mu     sync.Mutex
	at     time.Time // frozen: the start; following: the value at start
	start  time.Time // following: real time at start; zero when frozen
	offset time.Duration
}

// NewClock returns a clock frozen at start: only Advance moves it, so a test
// can name exact instants.
func NewClock(start time.Time) *Clock { return &Clock{at: start} }

// NewRealClock returns a clock that follows real time (in UTC) from now, so
// waits and deadlines behave, while Advance can still make things old.
func NewRealClock() *Clock {
	now := time.Now()
	return &Clock{at: now.UTC(), start: now}
}

// Now is the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.at.Add(c.offset)
	if !c.start.IsZero() {
		t = t.Add(time.Since(c.start))
	}
	return t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}
