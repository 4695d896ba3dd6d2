package tokensource

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oauthkit/tokensource/tokensourcetest"
	"go.uber.org/goleak"
	"golang.org/x/oauth2"
)

// leakTimeout is the RefreshTimeout of the tests below whose refresh never
// ends on its own.
const leakTimeout = 50 * time.Millisecond

// abandon starts n callers whose contexts end while they wait for the
// running refresh, and waits until every one of them has returned
// context.Canceled.
func abandon(t *testing.T, s *Source, n int) {
	t.Helper()
	waiting := countWaiters(t)
	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := s.TokenContext(ctx)
			errs <- err
		}()
	}
	awaitCount(t, waiting, int64(n))
	cancel()
	for range n {
		if err := recv(t, errs); !errors.Is(err, context.Canceled) {
			t.Fatalf("abandoned caller: err = %v, want context.Canceled", err)
		}
	}
}

// gatedStore holds every Load until gate is closed, so that callers can all
// be waiting for a refresh before the first of its steps that
// RefreshTimeout bounds begins: the wait at the gate does not count against
// the Load's bound.
type gatedStore struct {
	Store
	gate chan struct{}
}

func (g *gatedStore) Load(ctx context.Context) (*oauth2.Token, error) {
	<-g.gate
	return g.Store.Load(context.WithoutCancel(ctx))
}

// checkNoGoroutinesLeft waits, bounded, until s runs no refresh, and then
// fails t if a goroutine started since before is still running.
func checkNoGoroutinesLeft(t *testing.T, s *Source, before goleak.Option) {
	t.Helper()
	s.waitIdle(t)
	goleak.VerifyNone(t, before)
}

// TestAbandonedWaitersLeaveNoGoroutines has callers give up on a refresh
// that hangs, and checks that once the refresh ends (released, or cut off
// by RefreshTimeout) no goroutine of the Source is left: neither the
// refresh nor anything that waited for it.
func TestAbandonedWaitersLeaveNoGoroutines(t *testing.T) {
	expired := func(clock *tokensourcetest.Clock) *oauth2.Token {
		return &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)}
	}
	t.Run("refresh ends later", func(t *testing.T) {
		before := goleak.IgnoreCurrent()
		clock := newTestClock()
		e := &fakeEndpoint{next: rotating(clock, time.Hour), entered: make(chan struct{}, 1), release: make(chan struct{})}
		s, st := newSource(t, e, clock, expired(clock), nil)
		abandon(t, s, 20)
		recv(t, e.entered)
		close(e.release)
		checkNoGoroutinesLeft(t, s, before)
		// Nobody waited for it, yet the token it got is kept and saved.
		if tok, err := s.Token(); err != nil || tok.AccessToken != "a1" || st.saves.Load() != 1 {
			t.Errorf("after the abandoned refresh: %v, %v, %d saves; want a1 saved once", tok, err, st.saves.Load())
		}
	})

	t.Run("refresh hangs past RefreshTimeout", func(t *testing.T) {
		before := goleak.IgnoreCurrent()
		clock := newTestClock()
		e := &fakeEndpoint{next: rotating(clock, time.Hour), release: make(chan struct{})} // never released
		st := &gatedStore{Store: storeWith(t, expired(clock)), gate: make(chan struct{})}
		s := New(e.refresh, st, &Options{Now: clock.Now, RefreshTimeout: leakTimeout})
		abandon(t, s, 20)
		close(st.gate)
		checkNoGoroutinesLeft(t, s, before)
		if n := e.calls.Load(); n != 1 {
			t.Errorf("RefreshFunc called %d times, want 1", n)
		}
	})

	t.Run("lock held past RefreshTimeout", func(t *testing.T) {
		before := goleak.IgnoreCurrent()
		clock := newTestClock()
		e := &fakeEndpoint{next: rotating(clock, time.Hour)}
		gated := &gatedStore{Store: storeWith(t, expired(clock)), gate: make(chan struct{})}
		st := newLockedStore(gated)
		st.sem <- struct{}{} // another process holds the lock and never lets go
		s := New(e.refresh, st, &Options{Now: clock.Now, RefreshTimeout: leakTimeout})
		abandon(t, s, 20)
		close(gated.gate)
		checkNoGoroutinesLeft(t, s, before)

		// The next caller waits for the lock no longer than RefreshTimeout.
		err := boundedToken(t, s)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want context.DeadlineExceeded", err)
		}
		wantMessage(t, err, "tokensource: locking the store")
		if n := e.calls.Load(); n != 0 {
			t.Errorf("RefreshFunc called %d times without the lock", n)
		}
		checkNoGoroutinesLeft(t, s, before)
	})
}

// TestRefreshAheadLeavesNoGoroutines starts a background refresh that no
// caller waits for, and checks that it ends: on its own, or cut off by
// RefreshTimeout if the endpoint never responds.
func TestRefreshAheadLeavesNoGoroutines(t *testing.T) {
	for _, hang := range []bool{false, true} {
		name := map[bool]string{false: "refresh ends", true: "refresh hangs past RefreshTimeout"}[hang]
		t.Run(name, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			clock := newTestClock()
			e := &fakeEndpoint{next: rotating(clock, time.Hour), entered: make(chan struct{}, 1)}
			if hang {
				e.release = make(chan struct{}) // never released
			}
			s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)},
				&Options{RefreshTimeout: leakTimeout})
			mustToken(t, s, "a0")
			clock.Advance(time.Hour - DefaultEarlyExpiry - DefaultRefreshAhead/2)
			mustToken(t, s, "a0") // starts the refresh ahead
			recv(t, e.entered)
			checkNoGoroutinesLeft(t, s, before)
			want := "a1"
			if hang {
				want = "a0"
			}
			mustToken(t, s, want)
		})
	}
}

// TestHungTokenRequestLeavesNoGoroutines does the same through FromConfig
// and a real token request that the server never responds to: once
// RefreshTimeout has cut the request off, neither the Source nor the HTTP
// client has a goroutine left for it, while the server is still running.
func TestHungTokenRequestLeavesNoGoroutines(t *testing.T) {
	r := newServerRig(t, &Options{RefreshTimeout: leakTimeout})
	st := &gatedStore{Store: r.store, gate: make(chan struct{})}
	src := r.newSourceWith(r.srv.Config(), st)
	before := goleak.IgnoreCurrent()
	r.expire()
	r.srv.FailNext(1, tokensourcetest.FaultHang)
	abandon(t, src, 20)
	close(st.gate)
	// A caller that stays gets the timeout, whether it still finds the
	// refresh running or comes after it, in the backoff.
	if err := boundedToken(t, src); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("patient caller: err = %v, want context.DeadlineExceeded", err)
	}
	checkNoGoroutinesLeft(t, src, before)
	if n := r.requests(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}
