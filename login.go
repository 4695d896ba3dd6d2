package tokensource

import (
	"context"

	"golang.org/x/oauth2"
)

// A LoginFunc obtains a brand-new grant from the user, interactively: it
// opens a browser, or shows a code to enter on another device, and returns
// the token the authorization server issued, with its refresh token. Package
// login has the two usual ones: login.Browser and login.Device.
//
// A Source calls it only when no grant is usable: nothing is stored, the
// server refused the refresh token (invalid_grant), or the user logged out.
// It runs under the store's lock, after a reload, so that however many
// Sources and processes share the store, one of them logs in and the others
// adopt the token it saved: one browser tab, not one per process.
//
// ctx carries the values of the caller that needed the token, none of its
// cancellation, and a timeout of its own: a login takes minutes of a human's
// time and must outlive a request's deadline, yet must not hold the store's
// lock forever. A LoginFunc returns when ctx ends, whether or not the user
// ever came back.
//
// An error, or a cancelled ctx, counts as a failed login: every caller
// waiting for it gets an error that wraps both [ErrReauthRequired] and the
// login's error, and no Source sharing the store calls Login again until a
// cooldown has passed, so that a user who closed the tab is not sent a new
// one every second.
type LoginFunc func(ctx context.Context) (*oauth2.Token, error)
