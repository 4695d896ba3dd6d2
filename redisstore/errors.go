package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrLeaseLost is wrapped by the error of [Lease.Err] once the lease is
// lost: it was not renewed before its TTL ran out (the link to Redis
// stalled, the holder's process was paused), or another holder had it
// when its renewal came. Its message carries no package name, as it is
// always wrapped by one that does.
var ErrLeaseLost = errors.New("lease lost")

// call runs f, which sends commands to Redis with ctx, and returns its
// result, or ctx's error as soon as ctx ends, whichever comes first: a
// client without ContextTimeoutEnabled waits for a silent server until its
// own ReadTimeout, whatever ctx says. A call that ctx abandoned goes on in
// the background until the client gives up; then abandoned, unless nil,
// runs with its error, to undo what it may have done. The result comes
// back through a channel, never a variable f shares with the caller: an
// abandoned f still writes after call returned.
func call[T any](ctx context.Context, f func(context.Context) (T, error), abandoned func(error)) (T, error) {
	if ctx.Done() == nil {
		return f(ctx) // no end to wait for
	}
	var zero T
	if err := ctx.Err(); err != nil {
		return zero, err
	}
	type result struct {
		v   T
		err error
	}
	var (
		mu   sync.Mutex
		gone bool // the caller returned ctx's error
	)
	done := make(chan result, 1)
	go func() {
		v, err := f(ctx)
		mu.Lock()
		left := gone
		if !left {
			done <- result{v, err} // buffered: the caller takes it, now or after ctx ends
		}
		mu.Unlock()
		if left && abandoned != nil {
			abandoned(err)
		}
	}()
	select {
	case r := <-done:
		return r.v, withEnd(ctx, r.err)
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		select {
		case r := <-done: // it finished meanwhile
			return r.v, withEnd(ctx, r.err)
		default:
			gone = true
			return zero, ctx.Err()
		}
	}
}

// withEnd is err, wrapping ctx's error too when ctx has ended: a dial that
// times out at ctx's deadline can fail before ctx's own timer has marked it
// done, with an error that says only "i/o timeout".
func withEnd(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	end := ctx.Err()
	if d, ok := ctx.Deadline(); ok && end == nil && !time.Now().Before(d) {
		end = context.DeadlineExceeded
	}
	if end != nil && !errors.Is(err, end) {
		return fmt.Errorf("%w: %w", end, err)
	}
	return err
}
