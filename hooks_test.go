package tokensource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// hookTally records every call of its Hooks, and checks that none comes
// while the Source's mutex is held.
type hookTally struct {
	t   *testing.T
	src atomic.Pointer[Source] // for the mutex check, once set

	mu           sync.Mutex
	calls        int
	starts       []RefreshReason
	done         []RefreshDoneInfo
	loads        []StoreLoadedInfo
	locks        int
	requests     int
	saves        []SavedInfo
	logins       []LoginDoneInfo
	takeovers    int
	invalidated  []InvalidatedInfo
	unauthorized []UnauthorizedInfo
}

func (h *hookTally) hooks() *Hooks {
	return &Hooks{
		RefreshStart: func(ctx context.Context, info RefreshStartInfo) context.Context {
			h.note("RefreshStart", func() { h.starts = append(h.starts, info.Reason) })
			return nil
		},
		StoreLoaded: func(_ context.Context, info StoreLoadedInfo) {
			h.note("StoreLoaded", func() { h.loads = append(h.loads, info) })
		},
		LockAcquired: func(context.Context, time.Duration) { h.note("LockAcquired", func() { h.locks++ }) },
		TokenRequest: func(context.Context) { h.note("TokenRequest", func() { h.requests++ }) },
		Saved: func(_ context.Context, info SavedInfo) {
			h.note("Saved", func() { h.saves = append(h.saves, info) })
		},
		RefreshDone: func(_ context.Context, info RefreshDoneInfo) {
			h.note("RefreshDone", func() { h.done = append(h.done, info) })
		},
		LoginDone: func(_ context.Context, info LoginDoneInfo) {
			h.note("LoginDone", func() { h.logins = append(h.logins, info) })
		},
		TakeOver: func(context.Context, TakeOverInfo) { h.note("TakeOver", func() { h.takeovers++ }) },
		Invalidated: func(_ context.Context, info InvalidatedInfo) {
			h.note("Invalidated", func() { h.invalidated = append(h.invalidated, info) })
		},
		Unauthorized: func(_ context.Context, info UnauthorizedInfo) {
			h.note("Unauthorized", func() { h.unauthorized = append(h.unauthorized, info) })
		},
	}
}

// note records a call of the hook name with record, once it has checked
// that the Source's mutex can be taken: a hook called under it would wait
// here for itself, until the deadline.
func (h *hookTally) note(name string, record func()) {
	if s := h.src.Load(); s != nil {
		free := make(chan struct{})
		go func() {
			s.refreshing() // takes the mutex
			close(free)
		}()
		select {
		case <-free:
		case <-time.After(wait):
			h.t.Errorf("the %s hook was called under the Source's mutex", name)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	record()
}

// stats returns the Stats that the hooks' calls add up to, as the doc of
// Hooks says.
func (h *hookTally) stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	var st Stats
	for _, d := range h.done {
		switch d.Outcome {
		case OutcomeRefreshed:
			st.Refreshes++
		case OutcomeAdopted:
			st.Adopted++
		case OutcomeFailed, OutcomeReauth:
			st.RefreshErrors++
		}
	}
	for _, s := range h.saves {
		if s.Err == nil {
			st.Saves++
		} else {
			st.SaveErrors++
		}
	}
	for _, i := range h.invalidated {
		st.Invalidations++
		if i.NeverWorked {
			st.RefreshErrors++
		}
	}
	for _, l := range h.logins {
		if l.Err == nil {
			st.Logins++
		} else {
			st.LoginErrors++
		}
	}
	st.TakeOvers = int64(h.takeovers)
	return st
}

// ends returns the reason and outcome of each RefreshDone, as
// "reason/outcome".
func (h *hookTally) ends() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ends []string
	for _, d := range h.done {
		ends = append(ends, string(d.Reason)+"/"+string(d.Outcome))
	}
	return ends
}

// stepper returns a step function: after a step of a test, once s is
// idle, its Stats must be what h's calls add up to, and its refreshes must
// have ended with wantEnds ("reason/outcome"), after those of the earlier
// steps.
func (h *hookTally) stepper(t *testing.T, s *Source) func(name string, wantEnds ...string) {
	var steps []string
	return func(name string, wantEnds ...string) {
		t.Helper()
		s.waitIdle(t)
		steps = append(steps, wantEnds...)
		if diff := cmp.Diff(s.Stats(), h.stats()); diff != "" {
			t.Fatalf("after %s: Stats (-) and what the hooks add up to (+) differ:\n%s", name, diff)
		}
		if diff := cmp.Diff(steps, h.ends()); diff != "" {
			t.Fatalf("after %s: reason/outcome of each refresh (-want +got):\n%s", name, diff)
		}
	}
}

func (h *hookTally) callCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

func panicking(int64, *oauth2.Token) (*oauth2.Token, error) { panic("endpoint bug") }

// TestHooksAddUpToStats runs a Source through every outcome of a refresh,
// and checks after each step that the hooks' calls add up to its Stats as
// the doc of Hooks says.
func TestHooksAddUpToStats(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	mem := storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)})
	st := &countingStore{Store: mem}
	h := &hookTally{t: t}
	s := New(e.refresh, newLockedStore(st), &Options{Now: clock.Now, Hooks: h.hooks()})
	h.src.Store(s)
	ctx := context.Background()

	step := h.stepper(t, s)
	other := func(tok *oauth2.Token) { // another process saves tok
		t.Helper()
		if err := mem.Save(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}

	mustToken(t, s, "a0")
	step("the first load", "missing/loaded")

	clock.Advance(time.Hour)
	mustToken(t, s, "a1")
	step("a refresh", "expired/refreshed")

	e.next = failing(errEndpoint)
	clock.Advance(time.Hour)
	if _, err := s.Token(); !errors.Is(err, errEndpoint) {
		t.Fatalf("err = %v, want the endpoint's", err)
	}
	var be *BackoffError
	if _, err := s.Token(); !errors.As(err, &be) {
		t.Fatalf("err = %v, want a BackoffError", err)
	}
	// A caller during the backoff gets its error without a refresh.
	step("a failure and its backoff", "expired/failed")

	// A token someone else saved is adopted once the backoff has passed,
	// before any refresh.
	clock.Advance(backoffMax)
	other(&oauth2.Token{AccessToken: "b0", RefreshToken: "rb0", Expiry: clock.Now().Add(time.Hour)})
	mustToken(t, s, "b0")
	step("an adoption", "expired/adopted")

	e.next = rotating(clock, time.Hour)
	st.failSaves.Store(1) // the save of a rotated token is tried again under the lock
	clock.Advance(time.Hour)
	a := mustToken(t, s, "a3")
	step("a refresh whose first save fails", "expired/refreshed")

	s.Invalidate(a) // before any Confirm: revoked, perhaps
	s.Invalidate(mustToken(t, s, "a4"))
	if _, err := s.Token(); !errors.As(err, &be) {
		t.Fatalf("err = %v, want a BackoffError", err)
	}
	step("two new tokens rejected in a row", "rejected/refreshed") // the BackoffError comes without a refresh

	clock.Advance(backoffMin)
	a = mustToken(t, s, "a5")
	s.Confirm(a)
	s.Invalidate(a)
	mustToken(t, s, "a6")
	step("a revoked token", "rejected/refreshed", "rejected/refreshed")

	e.next = failing(fmt.Errorf("%w: refresh token revoked", ErrReauthRequired))
	for range 2 {
		if _, err := s.Refresh(ctx); !errors.Is(err, ErrReauthRequired) {
			t.Fatalf("err = %v, want ErrReauthRequired", err)
		}
	}
	step("invalid_grant, then its refresh token again", "forced/reauth", "forced/backoff")

	e.next = panicking
	other(&oauth2.Token{AccessToken: "c0", RefreshToken: "rc0", Expiry: clock.Now().Add(-time.Minute)}) // a new login
	clock.Advance(time.Hour)
	if _, err := s.Token(); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("err = %v, want the RefreshFunc's panic", err)
	}
	step("a panic", "expired/failed")

	e.next = rotating(clock, time.Hour)
	clock.Advance(backoffMax)
	mustToken(t, s, "a9")
	clock.Advance(time.Hour - DefaultEarlyExpiry - DefaultRefreshAhead/2)
	mustToken(t, s, "a9") // starts the refresh ahead
	s.waitIdle(t)
	mustToken(t, s, "a10")
	step("a refresh ahead", "expired/refreshed", "ahead/refreshed")

	// Every kind of count was reached, and the other hooks were called.
	if got := s.Stats(); got.Refreshes == 0 || got.RefreshErrors == 0 || got.Adopted == 0 ||
		got.Saves == 0 || got.SaveErrors == 0 || got.Invalidations == 0 {
		t.Errorf("Stats = %+v: some count was never reached", got)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.starts) != len(h.done) || h.locks == 0 || h.requests != int(e.calls.Load()) || len(h.loads) == 0 {
		t.Errorf("%d starts for %d ends, %d locks, %d token requests for %d RefreshFunc calls, %d loads",
			len(h.starts), len(h.done), h.locks, h.requests, e.calls.Load(), len(h.loads))
	}
}

// TestHooksAddUpToStatsWithLogins: logins, failed and not, count in the
// hooks as in Stats, and a refresh that logged in says so.
func TestHooksAddUpToStatsWithLogins(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: failing(fmt.Errorf("%w: refresh token revoked", ErrReauthRequired))}
	errUser := errors.New("the user closed the browser")
	var logins []error // what each call of Login returns, in turn
	login := func(context.Context) (*oauth2.Token, error) {
		err := logins[0]
		logins = logins[1:]
		if err != nil {
			return nil, err
		}
		return &oauth2.Token{AccessToken: "login", RefreshToken: "rl", Expiry: clock.Now().Add(time.Hour)}, nil
	}
	h := &hookTally{t: t}
	s := New(e.refresh, NewMemoryStore(), &Options{Now: clock.Now, Hooks: h.hooks(), Login: login})
	h.src.Store(s)

	step := h.stepper(t, s)

	logins = []error{nil}
	mustToken(t, s, "login")
	step("a first login", "missing/logged_in")

	logins = []error{errUser}
	clock.Advance(time.Hour)
	if _, err := s.Token(); !errors.Is(err, errUser) {
		t.Fatalf("err = %v, want the login's", err)
	}
	step("a refused refresh, then a failed login", "expired/reauth")

	clock.Advance(DefaultLoginCooldown / 2)
	if _, err := s.Token(); !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("err = %v, want ErrReauthRequired", err)
	}
	step("a login's cooldown", "expired/backoff") // the refused refresh token is still the newest

	logins = []error{nil}
	clock.Advance(DefaultLoginCooldown)
	mustToken(t, s, "login")
	step("a login after its cooldown", "expired/logged_in")

	if got := s.Stats(); got.Logins != 2 || got.LoginErrors != 1 || len(logins) != 0 {
		t.Errorf("Stats = %+v, %d logins left; want 2 logins, 1 failed, none left", got, len(logins))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, l := range h.logins {
		if l.Duration <= 0 {
			t.Errorf("LoginDone %+v: want its duration", l)
		}
	}
}

// TestHooksAddUpToStatsConcurrent has many callers get, reject, confirm and
// force tokens at once, while the clock runs and the endpoint fails every
// third call: the hooks' calls still add up to Stats exactly.
func TestHooksAddUpToStatsConcurrent(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: func(n int64, _ *oauth2.Token) (*oauth2.Token, error) {
		if n%3 == 0 {
			return nil, errEndpoint
		}
		return &oauth2.Token{AccessToken: "a" + itoa(n), RefreshToken: "r" + itoa(n), Expiry: clock.Now().Add(time.Minute)}, nil
	}}
	st := &countingStore{Store: storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Minute)})}
	h := &hookTally{t: t}
	s := New(e.refresh, newLockedStore(st), &Options{Now: clock.Now, Hooks: h.hooks()})
	h.src.Store(s)
	ctx := context.Background()

	var wg sync.WaitGroup
	for g := range 50 {
		wg.Go(func() {
			for i := range 100 {
				switch (g + i) % 4 {
				case 0:
					if tok, err := s.Token(); err == nil {
						s.Invalidate(tok)
					}
				case 1:
					if tok, err := s.Token(); err == nil {
						s.Confirm(tok)
					}
				case 2:
					s.Refresh(ctx)
				case 3:
					clock.Advance(time.Second)
					if g == 0 && i%25 == 3 {
						st.failSaves.Store(1)
					}
				}
			}
		})
	}
	wg.Wait()
	s.waitIdle(t)
	got := s.Stats()
	if diff := cmp.Diff(got, h.stats()); diff != "" {
		t.Errorf("Stats (-) and what the hooks add up to (+) differ:\n%s", diff)
	}
	if got.Refreshes < 10 || got.RefreshErrors < 10 || got.Invalidations < 10 || got.SaveErrors == 0 {
		t.Errorf("Stats = %+v: too few of some count to tell", got)
	}
}

func TestHooksNotCalledOnTheHotPath(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	h := &hookTally{t: t}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)},
		&Options{Hooks: h.hooks()})
	ctx := context.Background()
	first := mustToken(t, s, "a0")
	calls := h.callCount()
	allocs := testing.AllocsPerRun(1000, func() {
		if tok, _ := s.TokenContext(ctx); tok.AccessToken != first.AccessToken {
			t.Fatal("hot path returned another token")
		}
		s.Confirm(first)
	})
	if allocs != 0 {
		t.Errorf("hot path with hooks allocates %v times per call, want 0", allocs)
	}
	if n := h.callCount() - calls; n != 0 {
		t.Errorf("hooks called %d times on the hot path", n)
	}
}

func TestHookPanicsAreRecoveredAndLogged(t *testing.T) {
	names := []string{"RefreshStart", "StoreLoaded", "LockAcquired", "TokenRequest", "Saved", "RefreshDone", "Invalidated", "Unauthorized"}
	hooks := &Hooks{
		RefreshStart: func(context.Context, RefreshStartInfo) context.Context { panic("RefreshStart") },
		StoreLoaded:  func(context.Context, StoreLoadedInfo) { panic("StoreLoaded") },
		LockAcquired: func(context.Context, time.Duration) { panic("LockAcquired") },
		TokenRequest: func(context.Context) { panic("TokenRequest") },
		Saved:        func(context.Context, SavedInfo) { panic("Saved") },
		RefreshDone:  func(context.Context, RefreshDoneInfo) { panic("RefreshDone") },
		Invalidated:  func(context.Context, InvalidatedInfo) { panic("Invalidated") },
		Unauthorized: func(context.Context, UnauthorizedInfo) { panic("Unauthorized") },
	}
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	logs := &logRecorder{}
	st := newLockedStore(storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}))
	s := New(e.refresh, st, &Options{Now: clock.Now, Hooks: hooks, Logger: logs.logger()})

	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		unauthorizedUnless(w, r, "Bearer a1")
	}))
	defer rs.Close()
	resp, err := NewClient(context.Background(), s).Get(rs.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("got %s, want 200 after a 401, a refresh and a retry", resp.Status)
	}
	if st := s.Stats(); st.Refreshes != 1 || st.Saves != 1 || st.Invalidations != 1 {
		t.Errorf("Stats = %+v; want 1 refresh, 1 save, 1 invalidation", st)
	}
	for _, name := range names {
		if logs.count("the "+name+" hook panicked") == 0 {
			t.Errorf("no log of the %s hook's panic", name)
		}
	}
}

func TestRefreshStartContextReachesEveryStep(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	seen := &ctxSeen{}
	var startDone []bool // whether RefreshStart's ctx could end
	hooks := &Hooks{
		RefreshStart: func(ctx context.Context, _ RefreshStartInfo) context.Context {
			seen.note("RefreshStart", ctx)
			startDone = append(startDone, ctx.Done() != nil)
			return context.WithValue(ctx, callerKey{}, "hook")
		},
		StoreLoaded:  func(ctx context.Context, _ StoreLoadedInfo) { seen.note("StoreLoaded", ctx) },
		LockAcquired: func(ctx context.Context, _ time.Duration) { seen.note("LockAcquired", ctx) },
		TokenRequest: func(ctx context.Context) { seen.note("TokenRequest", ctx) },
		Saved:        func(ctx context.Context, _ SavedInfo) { seen.note("Saved", ctx) },
		RefreshDone:  func(ctx context.Context, _ RefreshDoneInfo) { seen.note("RefreshDone", ctx) },
	}
	s := seeingSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)}, seen, hooks)

	ctx, cancel := context.WithCancel(callerCtx("caller"))
	defer cancel()
	if tok, err := s.TokenContext(ctx); err != nil || tok.AccessToken != "a1" {
		t.Fatalf("TokenContext = %v, %v; want a1", tok, err)
	}
	seen.check(t, map[string][]string{
		"RefreshStart": {"caller"},
		"StoreLoaded":  {"hook", "hook"},
		"Load":         {"hook", "hook"},
		"Lock":         {"hook"},
		"LockAcquired": {"hook"},
		"TokenRequest": {"hook"},
		"RefreshFunc":  {"hook"},
		"Save":         {"hook"},
		"Saved":        {"hook"},
		"RefreshDone":  {"hook"},
	})
	if !cmp.Equal(startDone, []bool{false}) {
		t.Errorf("RefreshStart was given a context that could end: %v", startDone)
	}
}

func TestRefreshDoneDescribesTheRefresh(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	h := &hookTally{t: t}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)},
		&Options{Hooks: h.hooks()})
	a1 := mustToken(t, s, "a1")
	e.next = failing(errEndpoint)
	clock.Advance(time.Hour)
	_, err := s.Token()

	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.done) != 2 {
		t.Fatalf("%d RefreshDone calls, want 2", len(h.done))
	}
	ok, failed := h.done[0], h.done[1]
	if !ok.Expiry.Equal(a1.Expiry) || ok.Err != nil || ok.Duration < 0 || ok.LockWait != 0 {
		t.Errorf("refresh: %+v; want a1's Expiry %v, no error, no lock wait", ok, a1.Expiry)
	}
	if !failed.Expiry.IsZero() || failed.Err != err {
		t.Errorf("failure: %+v; want no Expiry and the error callers got, %v", failed, err)
	}
}

func TestTransportReportsUnauthorized(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	var mu sync.Mutex
	var got []string
	hooks := &Hooks{Unauthorized: func(ctx context.Context, info UnauthorizedInfo) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%v retried=%v status=%d %s", ctx.Value(callerKey{}), info.Retried, info.StatusCode, info.Outcome))
	}, Invalidated: func(ctx context.Context, info InvalidatedInfo) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%v invalidated", ctx.Value(callerKey{})))
	}}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)},
		&Options{Hooks: hooks})
	var accept atomic.Value // the Authorization the server accepts
	accept.Store("Bearer a1")
	rs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		unauthorizedUnless(w, r, accept.Load().(string))
	}))
	defer rs.Close()
	c := NewClient(context.Background(), s)

	send := func(v string, body io.Reader) {
		t.Helper()
		req, err := http.NewRequestWithContext(callerCtx(v), http.MethodPost, rs.URL, body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	send("replayable", nil) // a0 rejected, a1 accepted
	accept.Store("Bearer none")
	// A body without GetBody cannot be sent again: the 401 is returned.
	send("one-shot body", io.NopCloser(strings.NewReader("x")))
	want := []string{
		"replayable invalidated", "replayable retried=true status=200 recovered",
		"one-shot body invalidated", "one-shot body retried=false status=401 returned",
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Unauthorized calls (-want +got):\n%s", diff)
	}
}

func TestWaitWaitsForTheRefreshDoneHook(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	entered, release := make(chan struct{}), make(chan struct{})
	hooks := &Hooks{RefreshDone: func(context.Context, RefreshDoneInfo) {
		close(entered)
		<-release
	}}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)},
		&Options{Hooks: hooks})
	got := make(chan *oauth2.Token)
	go func() {
		tok, _ := s.Token()
		got <- tok
	}()
	recv(t, entered) // the refresh has its result, and no longer runs
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait while the RefreshDone hook runs: %v, want context.Canceled", err)
	}
	close(release)
	if tok := recv(t, got); tok == nil || tok.AccessToken != "a1" {
		t.Fatalf("Token = %v, want a1", tok)
	}
	if err := s.Wait(ctx); err != nil {
		t.Errorf("Wait after the hook: %v, want nil", err)
	}
}

func TestRemaining(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}, nil)
	if d, ok := s.Remaining(); ok {
		t.Errorf("Remaining before the first load = %v, true; want false", d)
	}
	a0 := mustToken(t, s, "a0")
	clock.Advance(20 * time.Minute)
	if d, ok := s.Remaining(); !ok || d != 40*time.Minute {
		t.Errorf("Remaining = %v, %v; want 40m, true", d, ok)
	}
	clock.Advance(time.Hour)
	if d, ok := s.Remaining(); !ok || d != -20*time.Minute {
		t.Errorf("Remaining past the Expiry = %v, %v; want -20m, true", d, ok)
	}
	s.Invalidate(a0)
	if d, ok := s.Remaining(); ok {
		t.Errorf("Remaining after Invalidate = %v, true; want false", d)
	}
	e.next = func(int64, *oauth2.Token) (*oauth2.Token, error) { return &oauth2.Token{AccessToken: "forever"}, nil }
	mustToken(t, s, "forever")
	if d, ok := s.Remaining(); ok {
		t.Errorf("Remaining of a token that never expires = %v, true; want false", d)
	}
}

func TestHooksCopiedByNew(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	var calls atomic.Int64
	hooks := &Hooks{RefreshDone: func(context.Context, RefreshDoneInfo) { calls.Add(1) }}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)},
		&Options{Hooks: hooks})
	hooks.RefreshDone = nil
	mustToken(t, s, "a1")
	if calls.Load() != 1 {
		t.Errorf("RefreshDone called %d times, want 1", calls.Load())
	}
}
