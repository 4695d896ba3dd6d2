package tokensource

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// newSource returns a Source on clock whose store holds tok.
func newSource(t *testing.T, e *fakeEndpoint, clock *tokensourcetest.Clock, tok *oauth2.Token, opts *Options) (*Source, *countingStore) {
	t.Helper()
	st := &countingStore{Store: storeWith(t, tok)}
	if opts == nil {
		opts = &Options{}
	}
	opts.Now = clock.Now
	return New(e.refresh, st, opts), st
}

func TestValidTokenServedWithoutRefreshOrIO(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	s, st := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}, nil)

	ctx := context.Background()
	first, err := s.TokenContext(ctx)
	if err != nil || first.AccessToken != "a0" {
		t.Fatalf("TokenContext() = %v, %v; want a0", first, err)
	}
	loads := st.loads.Load()
	allocs := testing.AllocsPerRun(1000, func() {
		if tok, _ := s.TokenContext(ctx); tok != first {
			t.Fatal("hot path returned another token")
		}
	})
	if allocs != 0 {
		t.Errorf("hot path allocates %v times per call, want 0", allocs)
	}
	if got := st.loads.Load(); got != loads {
		t.Errorf("hot path loaded the store %d times", got-loads)
	}
	if e.calls.Load() != 0 || st.saves.Load() != 0 {
		t.Errorf("refreshes = %d, saves = %d; want 0, 0", e.calls.Load(), st.saves.Load())
	}
}

func TestExpiredTokenOneRefreshForAllCallers(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour), release: make(chan struct{})}
	s, st := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)}, nil)

	const callers = 1000
	waiting := countWaiters(t)
	var wg sync.WaitGroup
	got := make([]*oauth2.Token, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { got[i], errs[i] = s.Token() })
	}
	awaitCount(t, waiting, callers) // every caller waits for the one refresh
	close(e.release)
	wg.Wait()

	for i := range callers {
		if errs[i] != nil || got[i].AccessToken != "a1" {
			t.Fatalf("caller %d got %v, %v; want a1", i, got[i], errs[i])
		}
	}
	if n := e.calls.Load(); n != 1 {
		t.Errorf("RefreshFunc called %d times, want 1", n)
	}
	if n := st.saves.Load(); n != 1 {
		t.Errorf("Save called %d times, want 1", n)
	}
	if s := s.Stats(); s.Refreshes != 1 || s.Saves != 1 {
		t.Errorf("Stats = %+v; want 1 refresh, 1 save", s)
	}
}

func TestFailureSharedThenBackoff(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: failing(errEndpoint), release: make(chan struct{})}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)}, nil)

	const callers = 100
	waiting := countWaiters(t)
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { _, errs[i] = s.Token() })
	}
	awaitCount(t, waiting, callers)
	close(e.release)
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, errEndpoint) {
			t.Fatalf("caller %d: err = %v, want the endpoint's error", i, err)
		}
	}
	if n := e.calls.Load(); n != 1 {
		t.Fatalf("RefreshFunc called %d times by %d callers, want 1", n, callers)
	}

	// The first backoff is between backoffMin/2 and backoffMin.
	clock.Advance(backoffMin/2 - time.Millisecond)
	_, err := s.Token()
	var be *BackoffError
	if !errors.As(err, &be) || !errors.Is(err, errEndpoint) {
		t.Fatalf("during backoff: err = %v, want a BackoffError wrapping the endpoint's error", err)
	}
	if n := e.calls.Load(); n != 1 {
		t.Fatalf("RefreshFunc called during backoff (%d calls)", n)
	}

	// A forced refresh skips the backoff.
	if _, err := s.Refresh(context.Background()); !errors.Is(err, errEndpoint) {
		t.Fatalf("Refresh: err = %v", err)
	}
	if n := e.calls.Load(); n != 2 {
		t.Fatalf("forced Refresh: %d calls, want 2", n)
	}

	// After two failures the wait is between backoffMin and 2*backoffMin.
	clock.Advance(backoffMin - time.Millisecond)
	if _, err := s.Token(); !errors.As(err, &be) {
		t.Fatalf("second backoff: err = %v, want BackoffError", err)
	}
	clock.Advance(backoffMin + time.Millisecond)
	e.next = rotating(clock, time.Hour)
	tok, err := s.Token()
	if err != nil || tok.AccessToken != "a3" {
		t.Fatalf("after backoff: %v, %v; want a3", tok, err)
	}
	if st := s.Stats(); st.Refreshes != 1 || st.RefreshErrors != 2 {
		t.Errorf("Stats = %+v; want 1 refresh, 2 errors", st)
	}
}

func TestCallerContextEndsWaitNotRefresh(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour), entered: make(chan struct{}, 1), release: make(chan struct{})}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)}, nil)

	patient := make(chan *oauth2.Token)
	go func() {
		tok, _ := s.Token()
		patient <- tok
	}()
	recv(t, e.entered)

	ctx, cancel := context.WithCancel(context.Background())
	impatient := make(chan error)
	go func() {
		_, err := s.TokenContext(ctx)
		impatient <- err
	}()
	cancel()
	if err := recv(t, impatient); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: err = %v, want context.Canceled", err)
	}

	close(e.release)
	if tok := <-patient; tok == nil || tok.AccessToken != "a1" {
		t.Fatalf("patient caller got %v, want a1", tok)
	}
	if n := e.calls.Load(); n != 1 {
		t.Errorf("RefreshFunc called %d times, want 1", n)
	}
}

func TestRefreshTimeoutCutsOffHungEndpoint(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour), release: make(chan struct{})} // never released
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)},
		&Options{RefreshTimeout: 20 * time.Millisecond})

	if err := boundedToken(t, s); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestRefreshAheadNeverBlocksCallers(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour), entered: make(chan struct{}, 1), release: make(chan struct{})}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}, nil)
	mustToken(t, s, "a0")

	// Inside the window: 10s early expiry, 1m refresh-ahead.
	clock.Advance(time.Hour - DefaultEarlyExpiry - DefaultRefreshAhead/2)
	for range 100 {
		if tok, err := s.Token(); err != nil || tok.AccessToken != "a0" {
			t.Fatalf("inside the window: %v, %v; want a0 at once", tok, err)
		}
	}
	recv(t, e.entered) // the background refresh started, while callers kept a0
	close(e.release)

	// Past a0's expiry, callers get the token the background refresh got,
	// waiting for it if it has not landed yet.
	clock.Advance(DefaultRefreshAhead)
	if tok, err := s.Token(); err != nil || tok.AccessToken != "a1" {
		t.Fatalf("after the window: %v, %v; want a1", tok, err)
	}
	if n := e.calls.Load(); n != 1 {
		t.Errorf("RefreshFunc called %d times, want 1", n)
	}
}

func TestRefreshAheadFailureKeepsValidTokenAndBacksOff(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: failing(errEndpoint)}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}, nil)
	mustToken(t, s, "a0")

	// callAt calls Token at offset d from the opening of the window, and
	// returns how many refreshes have run by then.
	window := clock.Now().Add(time.Hour - DefaultEarlyExpiry - DefaultRefreshAhead)
	callAt := func(d time.Duration) int64 {
		t.Helper()
		clock.Advance(window.Add(d).Sub(clock.Now()))
		for range 10 {
			mustToken(t, s, "a0") // never an error: a0 is valid
		}
		s.waitIdle(t)
		return e.calls.Load()
	}
	// The first attempt fails. The next starts once its backoff (at most
	// backoffMin) has passed, and never sooner than backoffMin.
	if n := callAt(0); n != 1 {
		t.Fatalf("at the window's opening: %d refreshes, want 1", n)
	}
	if n := callAt(backoffMin/2 - time.Millisecond); n != 1 {
		t.Fatalf("during the first backoff: %d refreshes, want 1", n)
	}
	if n := callAt(backoffMin + time.Millisecond); n != 2 {
		t.Fatalf("after the first backoff: %d refreshes, want 2", n)
	}
	// The second failure's backoff is between backoffMin and 2*backoffMin.
	if n := callAt(2*backoffMin - time.Millisecond); n != 2 {
		t.Fatalf("during the second backoff: %d refreshes, want 2", n)
	}
	// This one succeeds: it is held until the callers have checked that
	// they still get a0, or its token could land among their calls.
	e.next = rotating(clock, time.Hour)
	e.entered, e.release = make(chan struct{}, 1), make(chan struct{})
	clock.Advance(window.Add(3*backoffMin + time.Millisecond).Sub(clock.Now()))
	for range 10 {
		mustToken(t, s, "a0")
	}
	recv(t, e.entered)
	close(e.release)
	s.waitIdle(t)
	if n := e.calls.Load(); n != 3 {
		t.Fatalf("after the second backoff: %d refreshes, want 3", n)
	}
	mustToken(t, s, "a3")
}

func TestRefreshForcesAndCoalesces(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour), release: make(chan struct{})}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}, nil)

	waiting := countWaiters(t)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if tok, err := s.Refresh(context.Background()); err != nil || tok.AccessToken != "a1" {
				t.Errorf("Refresh = %v, %v; want a1", tok, err)
			}
		})
	}
	awaitCount(t, waiting, 20)
	close(e.release)
	wg.Wait()
	if n := e.calls.Load(); n != 1 {
		t.Fatalf("RefreshFunc called %d times for 20 concurrent Refresh calls, want 1", n)
	}
	if tok, _ := s.Token(); tok.AccessToken != "a1" {
		t.Errorf("Token after Refresh = %s, want a1", tok.AccessToken)
	}
	// A Refresh after that one ended forces another, though a1 is valid.
	if tok, _ := s.Refresh(context.Background()); tok == nil || tok.AccessToken != "a2" {
		t.Errorf("second Refresh = %v, want a2", tok)
	}
}

func TestRefreshSkipsBackoffUnderTraffic(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: failing(errEndpoint)}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Hour)}, nil)
	s.Token() // fails: the backoff starts

	// Callers without a valid token keep starting flights that stop at the
	// backoff; a forced Refresh must not settle for their BackoffError.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					s.Token()
				}
			}
		})
	}
	for i := range 100 {
		_, err := s.Refresh(context.Background())
		var be *BackoffError
		if errors.As(err, &be) || !errors.Is(err, errEndpoint) {
			t.Errorf("Refresh %d: err = %v, want the endpoint's own error", i, err)
			break
		}
	}
	close(stop)
	wg.Wait()
}

func TestPanickingRefreshFuncFailsTheWaiters(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: func(int64, *oauth2.Token) (*oauth2.Token, error) { panic("broken") }}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Hour)}, nil)
	_, err := s.Token()
	if err == nil || !strings.Contains(err.Error(), "panicked: broken") {
		t.Fatalf("err = %v, want the panic as an error", err)
	}
	// The Source still works.
	clock.Advance(backoffMax)
	e.next = rotating(clock, time.Hour)
	mustToken(t, s, "a2")
}

// deadlineStore records the deadline of the context each Lock gets.
type deadlineStore struct {
	*lockedStore
	lockDeadline time.Time
}

func (d *deadlineStore) Lock(ctx context.Context) (func(), error) {
	d.lockDeadline, _ = ctx.Deadline()
	return d.lockedStore.Lock(ctx)
}

func TestRefreshTimeoutBoundsTheWholeRefresh(t *testing.T) {
	// The lock wait and the token request share one deadline: a caller
	// waits about one RefreshTimeout, not one per step.
	clock := newTestClock()
	st := &deadlineStore{lockedStore: newLockedStore(storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Hour)}))}
	var refreshDeadline time.Time
	refresh := func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		refreshDeadline, _ = ctx.Deadline()
		return rotating(clock, time.Hour)(1, cur)
	}
	s := New(refresh, st, &Options{Now: clock.Now, RefreshTimeout: time.Minute})
	mustToken(t, s, "a1")
	if st.lockDeadline.IsZero() || !refreshDeadline.Equal(st.lockDeadline) {
		t.Errorf("lock deadline %v, refresh deadline %v; want one deadline", st.lockDeadline, refreshDeadline)
	}
}

// TestTokenSharedByOAuth2Clients shares one Source between several
// oauth2.NewClient clients, as the package doc suggests. Each client's
// oauth2.ReuseTokenSource writes into the token it gets from Token, so each
// must get a token of its own (run with -race).
func TestTokenSharedByOAuth2Clients(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer a0" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}, nil)
	mustToken(t, s, "a0")

	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		c := oauth2.NewClient(ctx, s)
		wg.Go(func() {
			<-start
			for range 5 {
				resp, err := c.Get(srv.URL)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("got %s", resp.Status)
				}
			}
		})
	}
	close(start)
	wg.Wait()

	a, _ := s.Token()
	b, _ := s.Token()
	if a == b {
		t.Error("Token returned the same *oauth2.Token twice")
	}
}

func TestRefreshJoiningFirstLoadRefreshes(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	st := &gatedStore{Store: storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}), gate: make(chan struct{})}
	s := New(e.refresh, st, &Options{Now: clock.Now})

	waiting := countWaiters(t)
	first := make(chan *oauth2.Token)
	go func() {
		tok, _ := s.Token()
		first <- tok
	}()
	awaitCount(t, waiting, 1) // the first load is running
	refreshed := make(chan *oauth2.Token)
	go func() {
		tok, _ := s.Refresh(context.Background())
		refreshed <- tok
	}()
	awaitCount(t, waiting, 2) // Refresh joined it
	close(st.gate)

	if tok := recv(t, first); tok == nil || tok.AccessToken != "a0" {
		t.Errorf("Token = %v, want the stored a0", tok)
	}
	if tok := recv(t, refreshed); tok == nil || tok.AccessToken != "a1" {
		t.Errorf("Refresh = %v, want a new token, a1", tok)
	}
	if n := e.calls.Load(); n != 1 {
		t.Errorf("RefreshFunc called %d times, want 1", n)
	}
}

func TestWaitLetsTheBackgroundRefreshSave(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour), entered: make(chan struct{}, 1), release: make(chan struct{})}
	st := storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)})
	s := New(e.refresh, st, &Options{Now: clock.Now})
	mustToken(t, s, "a0")
	clock.Advance(time.Hour - DefaultEarlyExpiry - DefaultRefreshAhead/2)
	mustToken(t, s, "a0") // starts the refresh ahead
	recv(t, e.entered)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a refresh running and ctx done: %v, want context.Canceled", err)
	}
	close(e.release)
	if err := s.Wait(context.Background()); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	// Once Wait returns, the rotated token is in the store.
	if stored, _ := st.Load(context.Background()); stored.RefreshToken != "r1" {
		t.Errorf("stored refresh token = %q after Wait, want r1", stored.RefreshToken)
	}
	if err := s.Wait(ctx); err != nil {
		t.Errorf("Wait with nothing running: %v, want nil even with ctx done", err)
	}
}

// TestIdleSourceKeepsNoRefresh checks that a Source whose refreshes have
// ended holds none of them, nor the context values of its caller: a Pool
// keeps many idle Sources.
func TestIdleSourceKeepsNoRefresh(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}, nil)
	if _, err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flight != nil || s.last != nil {
		t.Errorf("an idle Source keeps a refresh: running %p, latest %p", s.flight, s.last)
	}
}
