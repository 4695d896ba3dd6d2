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
