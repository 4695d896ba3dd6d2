package tokensource

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestBackoffStartsNoRefresh: during the backoff of a failed refresh,
// callers that need a token get the BackoffError at once, from a burst of
// goroutines as from one: no flight starts (no RefreshStart, no
// RefreshDone, no store read), and so no goroutine and no span. Once the
// backoff has passed, one refresh runs.
func TestBackoffStartsNoRefresh(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: failing(errEndpoint)}
	var starts, loads atomic.Int64
	hooks := &Hooks{
		RefreshStart: func(ctx context.Context, _ RefreshStartInfo) context.Context { starts.Add(1); return nil },
		StoreLoaded:  func(context.Context, StoreLoadedInfo) { loads.Add(1) },
	}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)},
		&Options{Hooks: hooks})
	if _, err := s.Token(); !errors.Is(err, errEndpoint) {
		t.Fatalf("err = %v, want the endpoint's", err)
	}
	s.waitIdle(t)
	startsBefore, loadsBefore := starts.Load(), loads.Load()

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			var be *BackoffError
			if _, err := s.TokenContext(context.Background()); !errors.As(err, &be) || !errors.Is(err, errEndpoint) {
				t.Errorf("during the backoff: err = %v, want a BackoffError wrapping the endpoint's error", err)
			}
		})
	}
	wg.Wait()
	s.waitIdle(t)
	if n, m := starts.Load()-startsBefore, loads.Load()-loadsBefore; n != 0 || m != 0 {
		t.Errorf("during the backoff: %d refreshes started, %d store reads; want none", n, m)
	}

	e.next = rotating(clock, time.Hour)
	clock.Advance(backoffMax)
	mustToken(t, s, "a2") // the RefreshFunc's second call
	if n := starts.Load() - startsBefore; n != 1 {
		t.Errorf("after the backoff: %d refreshes started, want 1", n)
	}
	if n := e.calls.Load(); n != 2 {
		t.Errorf("%d calls of the RefreshFunc, want 2", n)
	}
}
