package tokensource

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"golang.org/x/oauth2"
)

// Records gives a [Backend] the methods of a [Store], and Delete, with the
// semantics every store shares: a store embeds it, sets it to its own
// Backend, and has Load, Save and Delete. The store stays a Backend, so a
// [Source] on it reads and writes whole records.
type Records struct {
	Backend Backend
	// Where names the store's place in errors: `token file "/x"`. A sealed
	// record is bound to it (see Encrypter).
	Where string

	// Place is what a sealed record is bound to; "" means Where. A store
	// whose Where can name one place in several ways sets it to one.
	Place string

	// Encrypter, when not nil, seals every record written, bound to Place,
	// and opens what it reads. A record written in plain text, before
	// encryption was switched on, still loads, and is sealed at its next
	// write. A record that does not open (a wrong key, tampering, a record
	// copied from another place) is corrupt: an error wrapping
	// [ErrCorrupt], and the record is left as it is.
	Encrypter Encrypter

	// RequireEncryption makes a record in plain text corrupt too.
	RequireEncryption bool
}

// Load returns the stored token. The error wraps [ErrNotFound] when
// nothing is stored, [ErrLoggedOut] (which wraps ErrNotFound) after a
// log-out, and [ErrCorrupt] when the stored bytes are not a record, which
// are left as they are.
func (r Records) Load(ctx context.Context) (*oauth2.Token, error) {
	rec, err := r.read(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case rec.LoggedOut:
		return nil, &StoreError{Op: "load", Where: r.Where, Err: ErrLoggedOut}
	case rec.Token == nil: // only the cooldown of a failed login
		return nil, &StoreError{Op: "load", Where: r.Where, Err: ErrNotFound}
	}
	return rec.Token, nil
}

// Save stores tok as a new grant, replacing what is stored, a tombstone or
// another token, with the next generation: a refresh that started before
// the Save cannot overwrite it, and adopts tok instead. It refuses a nil
// token and one with neither an access token nor a refresh token.
func (r Records) Save(ctx context.Context, tok *oauth2.Token) error {
	if tok == nil || (tok.AccessToken == "" && tok.RefreshToken == "") {
		return &StoreError{Op: "save", Where: r.Where, Err: errNoCredential}
	}
	return r.replace(ctx, "save", &Record{Token: onWallClock(tok)})
}

// Delete logs out: it replaces the record with a tombstone, after which
// Load reports [ErrLoggedOut] and no Source writes the grant back, whatever
// token it holds. A Source sees the tombstone at its next load, and serves
// its cached token no longer. Deleting an empty store writes a tombstone
// too.
// A refresh running meanwhile finds the tombstone at its save, which is a
// compare-and-swap, and does not write the grant back.
func (r Records) Delete(ctx context.Context) error {
	return r.replace(ctx, "delete", &Record{LoggedOut: true})
}

// read gets and decodes the record.
func (r Records) read(ctx context.Context) (*Record, error) {
	data, err := r.Backend.Get(ctx)
	if err != nil {
		return nil, err
	}
	inner, err := r.open(ctx, data)
	if err != nil {
		return nil, &StoreError{Op: "load", Where: r.Where, Err: &corruptRecord{err}}
	}
	rec, err := decodeRecord(inner)
	if err != nil {
		return nil, &StoreError{Op: "load", Where: r.Where, Err: &corruptRecord{err}}
	}
	rec.raw = data // compare-and-swap is on the bytes stored
	return rec, nil
}

// replace writes next over whatever is stored, with the generation after
// it, by compare-and-swap.
func (r Records) replace(ctx context.Context, op string, next *Record) error {
	for attempt := range putRetries {
		prev, err := r.read(ctx)
		switch {
		case errors.Is(err, ErrNotFound):
			prev, err = nil, nil
		case errors.Is(err, ErrCorrupt):
			// A corrupt record is replaced by a deliberate Save or Delete,
			// which is how a program recovers from it.
			prev, err = r.corrupt(ctx)
		}
		if err != nil {
			return err
		}
		err = r.put(ctx, op, prev, next)
		if !errors.Is(err, ErrConflict) {
			return err
		}
		sleepCtx(ctx, rand.N(min(time.Duration(attempt+1)*time.Millisecond, conflictWait)))
	}
	return &StoreError{Op: op, Where: r.Where, Err: errors.New("the record kept changing")}
}

// corrupt returns the raw bytes stored, as a record to replace.
func (r Records) corrupt(ctx context.Context) (*Record, error) {
	data, err := r.Backend.Get(ctx)
	if err != nil {
		return nil, err
	}
	return &Record{raw: data}, nil
}

// put writes next in place of prev (nil: nothing stored), with the
// generation after prev's, and sets next's bytes.
func (r Records) put(ctx context.Context, op string, prev, next *Record) error {
	var old []byte
	next.Generation = 1
	if prev != nil {
		old = prev.raw
		next.Generation = prev.Generation + 1
	}
	data, err := EncodeRecord(next)
	if err == nil {
		data, err = r.seal(ctx, data)
	}
	if err != nil {
		return &StoreError{Op: op, Where: r.Where, Err: err}
	}
	if err := r.Backend.Put(ctx, old, data); err != nil {
		return err
	}
	next.raw = data
	return nil
}

// sleepCtx sleeps for d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// corruptRecord is the cause of a load whose bytes are not a record.
type corruptRecord struct{ err error }

func (e *corruptRecord) Error() string        { return "the stored token is corrupt: " + e.err.Error() }
func (e *corruptRecord) Unwrap() error        { return e.err }
func (e *corruptRecord) Is(target error) bool { return target == ErrCorrupt }
