package tokensource

import (
	"context"
	"errors"
	"time"
)

// ErrConflict is wrapped by the error of a [Backend].Put whose record
// changed since the caller read it: nothing was written.
var ErrConflict = errors.New("the stored record changed")

// ErrLoggedOut is wrapped by the error of a Load that found a tombstone: the
// grant was logged out ([Records.Delete]). It wraps [ErrNotFound] too, so
// that code written for a store that empties itself on log-out keeps
// working.
var ErrLoggedOut error = loggedOutError{}

type loggedOutError struct{}

func (loggedOutError) Error() string        { return "logged out" }
func (loggedOutError) Is(target error) bool { return target == ErrNotFound }

// A Backend keeps the bytes of one [Record] and replaces them by
// compare-and-swap. It is what a store implements; [Records] builds Load,
// Save and Delete on it, and a [Source] whose store is a Backend reads and
// writes whole records: generations, intents and tombstones, which keep a
// grant shared by processes and replicas from being lost (see the package
// documentation). A Backend must be safe for concurrent use, by goroutines
// and by processes.
//
// Get and Put return by their ctx's deadline, give or take a moment, even
// against a server that never answers. A Backend may also have a method
// Where() string, which names its place in the errors of a Source (as
// [StoreError].Where).
//
// A Store that wraps another by embedding it stays a Backend: a Source
// reads and writes it through Get and Put, not through Load and Save.
type Backend interface {
	// Get returns the stored bytes, or an error wrapping ErrNotFound when
	// nothing is stored.
	Get(ctx context.Context) ([]byte, error)

	// Put stores data if what is stored is still prev, byte for byte (nil
	// prev: nothing stored), and otherwise fails with an error wrapping
	// ErrConflict, writing nothing.
	Put(ctx context.Context, prev, data []byte) error
}

// A Lease is a lock held on a store, as a value: it can be lost while held
// (its time ran out while its holder stalled, the session that held it
// ended), and says so.
type Lease interface {
	// Lost is closed when the lease is lost before Release.
	Lost() <-chan struct{}
	// Release gives the lease back; calling it again does nothing. It
	// returns at once, and finishes in the background. A Lease whose
	// background work outlives its process's exit (a lease key that would
	// stay until its TTL) also has a method Released() <-chan struct{},
	// closed when that work is done: [Source.Wait] waits for it.
	Release()
}

// A Leaser is a [Locker] whose locks are leases. A Source whose store is a
// Leaser takes a Lease instead of calling Lock, and does not send a token
// request on a lease it has lost.
type Leaser interface {
	Lease(ctx context.Context) (Lease, error)
}

// StoreError is the error of a store's operation, in the manner of
// [os.PathError]: what was done, where, and why.
type StoreError struct {
	Op    string // "load", "save", "delete", "lock", ...
	Where string // the store's place: `token file "/x"`, `redis key "{k}:token"`
	Err   error  // the cause
}

func (e *StoreError) Error() string {
	return "tokensource: " + e.Op + " " + e.Where + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *StoreError) Unwrap() error { return e.Err }

// Timeout reports whether the cause is a timeout.
func (e *StoreError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.Err, &t) && t.Timeout() || errors.Is(e.Err, context.DeadlineExceeded)
}

// putRetries bounds the compare-and-swap loops of Save and Delete against
// writers that keep changing the record; between attempts they wait up to
// conflictWait, at random, growing with each attempt, so that writers
// racing each other fall out of step.
const (
	putRetries   = 100
	conflictWait = 20 * time.Millisecond
)
