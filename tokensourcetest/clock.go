package tokensourcetest

import (
	"sync"
	"time"
)

// A Clock is a manually driven clock for tests. Its time changes only when
// Advance or Set is called, so expiry can be tested without sleeping.
//
// Pass the method value clock.Now as Options.Now, and to any client code that
// accepts a clock, so that the server and the client agree on the time.
// A Clock is safe for concurrent use. The zero Clock reads as the zero
// time.Time; use NewClock to start elsewhere.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock that reads t until it is advanced or set.
func NewClock(t time.Time) *Clock {
	return &Clock{t: t}
}

// Now returns the Clock's current time. It has the signature of time.Now, so
// clock.Now can be used wherever a func() time.Time is expected.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the Clock forward by d and returns the new time. A negative d
// moves it backward, which is how a client with a skewed clock can be
// simulated.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// Set makes the Clock read t from now on.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}
