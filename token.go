package tokensource

import (
	"time"

	"golang.org/x/oauth2"
)

// cloneToken returns a shallow copy of t that keeps its extras; nil stays nil.
// The copy shares Raw with t; nothing in this package modifies Raw.
func cloneToken(t *oauth2.Token) *oauth2.Token {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// sameToken reports whether a and b are the same token as far as storing
// it goes: both nil, or equal access token and refresh token, and expiry
// times less than a second apart. Stores may keep time coarser than a
// Go time.Time (whole seconds in a JSON number, microseconds in a
// PostgreSQL timestamptz): a token loaded back is still the one saved.
func sameToken(a, b *oauth2.Token) bool {
	if a == nil || b == nil {
		return a == b
	}
	d := a.Expiry.Sub(b.Expiry)
	return a.AccessToken == b.AccessToken &&
		a.RefreshToken == b.RefreshToken &&
		d > -time.Second && d < time.Second
}

// onWallClock returns t, or a copy of it if its Expiry carries a monotonic
// reading, without it: an expiry is a wall-clock instant (x/oauth2 strips
// the reading too), and the monotonic clock stops while a machine sleeps.
func onWallClock(t *oauth2.Token) *oauth2.Token {
	if t == nil || t.Expiry == t.Expiry.Round(0) {
		return t
	}
	t = cloneToken(t)
	t.Expiry = t.Expiry.Round(0)
	return t
}

// refreshToken returns t's refresh token, or "" when t is nil.
func refreshToken(t *oauth2.Token) string {
	if t == nil {
		return ""
	}
	return t.RefreshToken
}
