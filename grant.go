package tokensource

import (
	"context"
	"errors"

	"golang.org/x/oauth2"
)

// grantStore is the Source's view of its store: records read and written
// by compare-and-swap when the store is a [Backend], plain tokens
// otherwise.
type grantStore interface {
	// get returns the stored record, nil when nothing is stored.
	get(ctx context.Context) (*Record, error)
	// put writes next in place of prev (nil: nothing stored), with the
	// generation after prev's; an error wraps ErrConflict if the store no
	// longer holds prev.
	put(ctx context.Context, prev, next *Record) error
	// shared reports whether the store keeps whole records: generations,
	// intents and tombstones.
	shared() bool
}

// newGrantStore returns the view of store.
func newGrantStore(store Store) grantStore {
	if b, ok := store.(Backend); ok {
		r := Records{Backend: b}
		if rs, ok := store.(interface{ Records() Records }); ok {
			// The store's place and encryption, with the store as given
			// for its Backend: a wrapper's Get and Put are its own.
			r = rs.Records()
			r.Backend = b
		} else if w, ok := store.(interface{ Where() string }); ok {
			r.Where = w.Where()
		}
		return backendGrant{r}
	}
	return plainGrant{store}
}

// backendGrant reads and writes records on a Backend.
type backendGrant struct{ r Records }

func (g backendGrant) get(ctx context.Context) (*Record, error) {
	rec, err := g.r.read(ctx)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return rec, err
}

func (g backendGrant) put(ctx context.Context, prev, next *Record) error {
	return g.r.put(ctx, "save", prev, next)
}

func (backendGrant) shared() bool { return true }

// plainGrant is a Store that keeps tokens only: every record holds a token
// at generation 0, and writes are plain Saves of tokens.
type plainGrant struct{ store Store }

func (g plainGrant) get(ctx context.Context) (*Record, error) {
	tok, err := g.store.Load(ctx)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &Record{Token: tok}, nil
}

func (g plainGrant) put(ctx context.Context, prev, next *Record) error {
	if next.LoggedOut {
		if d, ok := g.store.(interface{ Delete(context.Context) error }); ok {
			return d.Delete(ctx)
		}
		return errors.New("the store cannot log out: it has no Delete method")
	}
	return g.store.Save(ctx, next.Token)
}

func (plainGrant) shared() bool { return false }

// recordToken returns the token r holds, or nil.
func recordToken(r *Record) *oauth2.Token {
	if r == nil {
		return nil
	}
	return r.Token
}
