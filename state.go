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
// expired, computed once, when the Source gets the token, so that the hot
// path only compares integers.
//
// Every instant here is read on the wall clock, in Unix nanoseconds (see
// wallNanos): the monotonic clock stops while a machine sleeps, and a token
// expires by the wall clock of its server.
type cached struct {
	tok       *oauth2.Token
	staleAt   int64 // the background refresh may start; equal to expiredAt when refresh-ahead is off
	expiredAt int64 // math.MaxInt64 when the token never expires
	dead      bool  // rejected by a server, or without an access token
	streak    int   // failed refreshes in a row before this token, for the backoff if it never works

	// unconfirmed is set while a token fresh from the RefreshFunc has not
	// been confirmed to work (Source.Confirm). It is written once, so that
	// reading it on every request costs no shared cache-line write.
	unconfirmed atomic.Bool

	// aheadAt is when a caller that finds the token stale may start the
	// next background refresh: 0 at first, the end of the backoff after a
	// failed one, and never while one runs. The first caller to claim it
	// starts the refresh; the others only read it.
	aheadAt atomic.Int64
}

// noAhead is the aheadAt of a token whose background refresh is running.
const noAhead = math.MaxInt64

// claimAhead reports whether the caller, at now, is the one to start the
// next background refresh of c.
func (c *cached) claimAhead(now int64) bool {
	at := c.aheadAt.Load()
	return now >= at && c.aheadAt.CompareAndSwap(at, noAhead)
}

// newCached computes tok's states from its lifetime (see lifetime).
//
// The early expiry is capped at a quarter of that lifetime, so that a token
// that lives shorter than EarlyExpiry is still used for most of its life. The
// background refresh starts RefreshAhead before the early expiry, but never
// before half of the lifetime has passed.
func newCached(tok *oauth2.Token, now time.Time, o *options) *cached {
	c := &cached{tok: tok, dead: tok.AccessToken == "", staleAt: math.MaxInt64, expiredAt: math.MaxInt64}
	if tok.Expiry.IsZero() {
		return c
	}
	life := lifetime(tok, now)
	expiredAt := tok.Expiry.Add(-min(o.earlyExpiry, life/4))
	c.expiredAt = wallNanos(expiredAt)
	c.staleAt = c.expiredAt
	if o.refreshAhead > 0 {
		c.staleAt = wallNanos(later(expiredAt.Add(-o.refreshAhead), tok.Expiry.Add(-life/2)))
	}
	return c
}

// lifetime returns the lifetime tok was issued with, by its ExpiresIn, or,
// when that is unknown, the lifetime it has left at now. A token taken from
// the store late in its life keeps the early expiry its issue lifetime
// gives it, rather than a quarter of the little it has left, which would
// have it sent until the moment its server drops it.
func lifetime(tok *oauth2.Token, now time.Time) time.Duration {
	left := max(tok.Expiry.Round(0).Sub(now.Round(0)), 0)
	if tok.ExpiresIn <= 0 || tok.ExpiresIn > int64(math.MaxInt64/time.Second) {
		return left
	}
	return max(time.Duration(tok.ExpiresIn)*time.Second, left)
}

// rejected returns a copy of c that is expired for good but keeps the
// token, whose refresh token is still needed.
func (c *cached) rejected() *cached {
	return &cached{tok: c.tok, staleAt: c.staleAt, expiredAt: c.expiredAt, dead: true}
}

func (c *cached) state(now int64) state {
	switch {
	case c.dead:
		return expired
	case now < c.staleAt:
		return fresh
	case now < c.expiredAt:
		return stale
	}
	return expired
}

// wallNanos returns t on the wall clock, whatever monotonic reading it
// carries, in Unix nanoseconds, clamped to what an int64 holds (years 1678
// to 2262): a token that expires after 2262 never expires here. The bounds
// are checked on the seconds, which costs less than comparing times.
func wallNanos(t time.Time) int64 {
	switch sec := t.Unix(); {
	case sec < math.MinInt64/int64(time.Second):
		return math.MinInt64
	case sec >= math.MaxInt64/int64(time.Second):
		return math.MaxInt64
	}
	return t.UnixNano()
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
