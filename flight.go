package tokensource

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"golang.org/x/oauth2"
)

// A flight is one run of the refresh procedure (see obtain). Everyone who
// needs a token while it runs waits for it and gets its result.
type flight struct {
	force  bool          // skip the backoff of earlier failures
	reason RefreshReason // why it started, for the hooks
	done   chan struct{} // closed when the result is set

	// ctx carries the values of the caller that started f, none of its
	// cancellation, to every step: see refreshStart.
	ctx context.Context

	// The result, set before done is closed.
	tok   *oauth2.Token
	err   error
	first bool // tok is the stored token, loaded on first use: not a new one

	// Set by the procedure, for publish.
	refreshed bool          // tok comes from the RefreshFunc
	loggedIn  bool          // tok comes from Login
	backedOff bool          // f stopped at the backoff of an earlier failure
	loggedOut bool          // f found a tombstone in the store
	logouts   int64         // Source.logouts when f last took the turn
	base      *oauth2.Token // the token the RefreshFunc was given
	step      string        // the step calling out of the package: named if it never returns
	noted     bool          // a failure of f was recorded for the backoff (see note)

	// For the hooks.
	began    time.Time     // on the monotonic clock
	lockWait time.Duration // in the store's Lock
}

// wait returns the flight's result, or ctx.Err() if ctx ends first.
func (f *flight) wait(ctx context.Context) (*oauth2.Token, error) {
	if f.ended() {
		return f.tok, f.err
	}
	testHookWaiting()
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// ended reports whether f has its result.
func (f *flight) ended() bool {
	select {
	case <-f.done:
		return true
	default:
		return false
	}
}

// testHookWaiting is called when a caller starts waiting for a running
// flight; tests replace it to know that every caller is waiting.
var testHookWaiting = func() {}

// testHookPublishing is called when a flight has its result, just before
// publish makes it the Source's.
var testHookPublishing = func() {}

// start returns the running flight, or starts one for reason, with the
// values of the caller's ctx. s.mu must be held.
func (s *Source) start(ctx context.Context, reason RefreshReason) *flight {
	if s.flight == nil {
		if ctx == nil {
			ctx = context.Background() // context.WithoutCancel would panic, in the flight's goroutine
		}
		s.flight = &flight{force: reason == ReasonForced, reason: reason, ctx: ctx, done: make(chan struct{})}
		s.last = s.flight
		go s.run(s.flight)
	}
	return s.flight
}

// startUnlessBackingOff is start for a caller that needs a token now (see
// TokenContext), unless the backoff of a failed refresh holds at now: then
// it returns that BackoffError at once, and starts nothing. A flight would
// end with it before calling anything, after a goroutine, a span and a
// metric point for each burst of callers: during an outage, tracing would
// fill with refreshes that never ran. A token someone else saved meanwhile
// is adopted by the first flight after the backoff, before it refreshes.
// ErrReauthRequired still starts flights: only they see a new login in the
// store. s.mu must be held.
func (s *Source) startUnlessBackingOff(ctx context.Context, reason RefreshReason, now time.Time) (*flight, error) {
	if f := s.fail; s.flight == nil && f.err != nil && !f.reauth && now.Before(f.retryAt) {
		return nil, &BackoffError{Err: f.err, RetryAt: f.retryAt}
	}
	return s.start(ctx, reason), nil
}

// run carries out f, detached from every caller, and publishes its result
// on every path. A step that panics ends f with an error (see call); one
// that calls runtime.Goexit (a t.FailNow in a test's RefreshFunc) cannot be
// stopped, but the deferred publication still runs, as in
// golang.org/x/sync/singleflight.
func (s *Source) run(f *flight) {
	returned := false
	defer func() {
		if !returned {
			err := fmt.Errorf("tokensource: %s called runtime.Goexit", f.step)
			if f.step == stepLoad {
				f.tok, f.err = nil, s.failedLoading(f, err, s.now())
			} else {
				f.tok, f.err = nil, s.failed(f, err, f.base, s.now())
			}
		}
		testHookPublishing()
		s.publish(f)
	}()
	s.refreshStart(f)
	f.tok, f.err = s.obtain(f)
	// With no usable grant, log in; a grant someone else saved meanwhile
	// is refreshed or adopted instead, once.
	for round := 0; round < 2 && s.wantsLogin(f.err); round++ {
		if f.tok, f.err = s.login(f); f.err != errStoreChanged {
			break // a login's failure is final for this flight: see Options.LoginCooldown
		}
		f.tok, f.err = s.obtain(f)
	}
	returned = true
}

// publish makes f's result the Source's, reports it to the RefreshDone
// hook, and wakes f's waiters.
//
// A server may have rejected the new token's access token while f ran (a
// refresh can return the access token it replaces): that is checked here,
// under mu, where Invalidate cannot come in between. Such a token counts
// as a failed refresh; after the backoff, if the refresh returns it again,
// it is served: the server insists, and the rejection may have been
// spurious.
func (s *Source) publish(f *flight) {
	now := s.now()
	refused := false
	s.mu.Lock()
	if f.err == nil && f.tok.AccessToken == s.rejected {
		if s.fail.returned != s.rejected {
			f.tok, f.err, refused = nil, errReturnedRejected, true
			s.fail.record(f.err, 0, false, now, f.base, f.noted)
			s.fail.returned = s.rejected
		} else {
			s.rejected = ""
		}
	}
	if s.retired {
		// A Pool deleted the Source while f ran: its token is not served.
		f.tok, f.err = nil, errRetired
	}
	if f.err == nil && f.logouts != s.logouts.Load() {
		// Logout ran after f last used the store: f's token is of the
		// grant logged out.
		f.tok, f.err, f.loggedOut = nil, errLoggedOut, true
	}
	if f.err == nil {
		c := newCached(f.tok, now, &s.opts)
		if f.refreshed {
			c.unconfirmed.Store(true)
			c.streak = s.fail.n
			if prev := s.cur.Load(); prev != nil && prev.unused {
				c.wasted = prev.wasted + 1
			}
		}
		s.cur.Store(c)
		s.fail = failure{}
	} else if f.loggedOut {
		// A log-out: the cached token is served no longer.
		s.cur.Store(nil)
	} else if c := s.cur.Load(); c != nil {
		// The current token may still be valid: its next background
		// refresh waits for the backoff, and at least backoffMin, so that
		// a failing store is not read on every call.
		c.aheadAt.Store(wallNanos(later(s.fail.retryAt, now.Add(backoffMin))))
	}
	n, retryAt := s.fail.n, s.fail.retryAt
	s.flight = nil
	s.mu.Unlock()

	// A flight counts one failure, however many steps of it failed (a
	// refresh, then the login after it), as RefreshDone reports it once.
	switch {
	case f.err != nil && !f.backedOff:
		s.stats.refreshErrors.Add(1)
		if refused {
			s.logFailure(f.ctx, f.err, n, retryAt)
		}
	case f.refreshed:
		s.stats.refreshes.Add(1)
		s.opts.log.DebugContext(f.ctx, "tokensource: refreshed", "expiry", f.tok.Expiry)
	}
	defer func() { // even if the hook calls runtime.Goexit
		f.ctx = nil // the caller's values, which a waiter may keep
		close(f.done)
		// An idle Source keeps no flight: a Pool holds many of them.
		s.mu.Lock()
		if s.last == f {
			s.last = nil
		}
		s.mu.Unlock()
	}()
	s.refreshDone(f)
}

// call runs fn, a step of f that calls code outside this package, named by
// step ("loading the store"). A panic in fn is returned as a *stepPanic, so
// that it fails the flight like any error instead of ending the program.
func (f *flight) call(step string, fn func() error) (err error) {
	// A step may run while another unwinds (the store's unlock, deferred,
	// after a runtime.Goexit in the RefreshFunc): on return, the step that
	// exited is named again. After a runtime.Goexit, this one stays named.
	outer := f.step
	f.step = step
	defer func() {
		if r := recover(); r != nil {
			err = &stepPanic{step: step, value: r, stack: debug.Stack()}
			f.step = outer
		}
	}()
	err = fn()
	f.step = outer
	return err
}

// stepPanic is a panic of a step of a refresh.
type stepPanic struct {
	step  string
	value any
	stack []byte
}

func (p *stepPanic) Error() string {
	err, _ := p.value.(error)
	return fmt.Sprintf("%s: %v", prefixed(p.step+" panicked", err), p.value)
}

// Unwrap returns the panic value if it is an error.
func (p *stepPanic) Unwrap() error {
	err, _ := p.value.(error)
	return err
}

// stepError returns err, the error of step, wrapped with the step's name,
// unless it is nil or a panic, which names it already.
func stepError(step string, err error) error {
	if _, ok := err.(*stepPanic); ok || err == nil {
		return err
	}
	return wrap(step, err)
}
