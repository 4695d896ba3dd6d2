package redisstore

import (
	"context"
	"errors"
	"sync"

	"github.com/oauthkit/tokensource"
)

// ErrLeaseLost is wrapped by the error of [Lease.Err] once the lease is
// lost: it was not renewed before its TTL ran out (the link to Redis
// stalled, the holder's process was paused), or another holder had it
// when its renewal came. Its message carries no package name, as it is
// always wrapped by one that does.
var ErrLeaseLost = errors.New("lease lost")

// notStored is the cause of a Get of a key that does not exist: it is
// [tokensource.ErrNotFound], in words that do not name the package again
// inside a [tokensource.StoreError].
type notStored struct{}

func (notStored) Error() string        { return "nothing stored" }
func (notStored) Is(target error) bool { return target == tokensource.ErrNotFound }

// call runs f, which sends commands to Redis with ctx, and returns its
// error, or ctx's as soon as ctx ends, whichever comes first: a client
// without ContextTimeoutEnabled waits for a silent server until its own
// ReadTimeout, whatever ctx says. A call that ctx abandoned goes on in the
// background until the client gives up; then abandoned, unless nil, runs
// with its error, to undo what it may have done.
func call(ctx context.Context, f func(context.Context) error, abandoned func(error)) error {
	if ctx.Done() == nil {
		return f(ctx) // no end to wait for
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var (
		mu   sync.Mutex
		gone bool // the caller returned ctx's error
	)
	done := make(chan error, 1)
	go func() {
		err := f(ctx)
		mu.Lock()
		left := gone
		if !left {
			done <- err // buffered: the caller takes it, now or after ctx ends
		}
		mu.Unlock()
		if left && abandoned != nil {
			abandoned(err)
		}
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		select {
		case err := <-done: // it finished meanwhile
			return err
		default:
			gone = true
			return ctx.Err()
		}
	}
}
