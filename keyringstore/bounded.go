package keyringstore

import "context"

// bounded runs f and returns its result, or ctx's error as soon as ctx
// ends, whichever comes first. A call of the keyring cannot be
// interrupted (a D-Bus method call waits for its reply, a prompt for its
// user, the Keychain's tool for its exit): f goes on in the background
// then, to its end, and must check ctx itself before each call it has yet
// to make. It runs f even when ctx has already ended, so that whatever f
// releases at its end (a lock) is released. The result comes back through
// a channel, never through a variable f shares with the caller: an
// abandoned f still writes after bounded returned.
func bounded[T any](ctx context.Context, f func() (T, error)) (T, error) {
	if ctx.Done() == nil {
		return f() // nothing to wait for
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1) // buffered: an abandoned f does not block
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		select {
		case r := <-done: // it finished meanwhile: its result is the truth
			return r.v, r.err
		default:
			var zero T
			return zero, ctx.Err()
		}
	}
}
