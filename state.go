package tokensource

import (
	"math"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// A state says what a cached token is good for at a given instant.
type state int

const (
	fresh   state = iota // valid, and not yet due for a refresh
	stale                // still valid, but due for a refresh in the background
	expired              // must not be used: past its early expiry, rejected, or empty
)

// cached is a token together with the instants at which it turns stale and
// expired. They are computed once, when the Source gets the token, so that
// the hot path only compares two times.
type cached struct {
	tok       *oauth2.Token
	staleAt   time.Time // the background refresh may start; equal to expiredAt when refresh-ahead is off
	expiredAt time.Time // zero when the token never expires
	dead      bool      // rejected by a server, or without an access token

	// aheadAt is when, in Unix nanoseconds, a caller that finds the token
	// stale may start the next background refresh: 0 at first, the end of
	// the backoff after a failed one, and never while one runs. The first
	// caller to claim it starts the refresh; the others only read it.
	aheadAt atomic.Int64
}

// noAhead is the aheadAt of a token whose background refresh is running.
const noAhead = math.MaxInt64

// claimAhead reports whether the caller, at now, is the one to start the
// next background refresh of c.
func (c *cached) claimAhead(now time.Time) bool {
	at := c.aheadAt.Load()
	return now.UnixNano() >= at && c.aheadAt.CompareAndSwap(at, noAhead)
}

// newCached computes tok's states from the lifetime it has left at now.
//
// The early expiry is capped at a quarter of that lifetime, so that a token
// that lives shorter than EarlyExpiry is still used for most of its life. The
// background refresh starts RefreshAhead before the early expiry, but never
// before half of the lifetime has passed.
func newCached(tok *oauth2.Token, now time.Time, o *options) *cached {
	c := &cached{tok: tok, dead: tok.AccessToken == ""}
	if tok.Expiry.IsZero() {
		return c
	}
	life := max(tok.Expiry.Sub(now), 0)
	c.expiredAt = tok.Expiry.Add(-min(o.earlyExpiry, life/4))
	c.staleAt = c.expiredAt
	if o.refreshAhead > 0 {
		c.staleAt = later(c.expiredAt.Add(-o.refreshAhead), now.Add(life/2))
	}
	return c
}

// rejected returns a copy of c that is expired for good but keeps the
// token, whose refresh token is still needed.
func (c *cached) rejected() *cached {
	return &cached{tok: c.tok, staleAt: c.staleAt, expiredAt: c.expiredAt, dead: true}
}

func (c *cached) state(now time.Time) state {
	switch {
	case c.dead:
		return expired
	case c.expiredAt.IsZero() || now.Before(c.staleAt):
		return fresh
	case now.Before(c.expiredAt):
		return stale
	}
	return expired
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
