package tokensource

import "golang.org/x/oauth2"

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
// it goes: both nil, or equal access token, refresh token and expiry.
func sameToken(a, b *oauth2.Token) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.AccessToken == b.AccessToken &&
		a.RefreshToken == b.RefreshToken &&
		a.Expiry.Equal(b.Expiry)
}

// refreshToken returns t's refresh token, or "" when t is nil.
func refreshToken(t *oauth2.Token) string {
	if t == nil {
		return ""
	}
	return t.RefreshToken
}
