package tokensource

import (
	"context"
	"errors"

	"golang.org/x/oauth2"
)

// ErrNotFound is wrapped by the error of [Store].Load when the store holds
// no token. Like the other sentinels a store wraps ([ErrConflict],
// [ErrLoggedOut], [ErrCorrupt]), its message names no package: the
// [StoreError] around it does.
var ErrNotFound = errors.New("no token stored")

// A Store keeps a token between runs of a program, and between the processes
// that share it.
//
// A Source calls Load on first use and before every refresh, and Save for
// every token that differs from the stored one, before it returns that token
// to anyone. Neither is ever called on the hot path (a valid cached token).
// Their context has the values of the caller that started the refresh, and
// ends with [Options.RefreshTimeout]. Implementations must be safe for
// concurrent use.
//
// A log-out empties the store under its lock, if it has one, so that a
// refresh running elsewhere cannot save its token back: see
// [FileStore.Delete].
type Store interface {
	// Load returns the stored token, or an error that wraps [ErrNotFound]
	// when nothing is stored. The Source does not modify the returned token.
	Load(ctx context.Context) (*oauth2.Token, error)
	// Save stores tok, replacing what was stored. It must not keep tok after
	// it returns unless it copies it.
	Save(ctx context.Context, tok *oauth2.Token) error
}

// A Locker is an optional interface of a Store. A Source whose store is also
// a Locker takes the lock around every refresh, so that processes sharing
// the store refresh one at a time and a rotated refresh token is used once.
// The lock is held from the reload before a refresh to the save after it.
type Locker interface {
	// Lock waits until it holds the lock or ctx ends, and returns the
	// function that releases it.
	Lock(ctx context.Context) (unlock func(), err error)
}
