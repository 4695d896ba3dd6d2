package tokensource

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// Every way a refresh can fail is counted in Stats.RefreshErrors and backs
// off: the calls during the backoff get a BackoffError at once, without
// touching the store, its lock or the RefreshFunc again.

// trapStore is a Store and Locker (in-process, like lockedStore) that
// counts its calls, and runs a trap, if set, at the start of each: a trap
// may panic, or call runtime.Goexit.
type trapStore struct {
	*lockedStore
	loads, locks, saves    atomic.Int64
	onLoad, onLock, onSave func()
	lockReturnsNothing     bool
	mu                     sync.Mutex // guards the traps
}

func newTrapStore(t *testing.T, tok *oauth2.Token) *trapStore {
	return &trapStore{lockedStore: newLockedStore(storeWith(t, tok))}
}

// set changes the traps under the store's lock.
func (s *trapStore) set(f func(s *trapStore)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *trapStore) trap(which *func()) {
	s.mu.Lock()
	f := *which
	s.mu.Unlock()
	if f != nil {
		f()
	}
}

func (s *trapStore) Load(ctx context.Context) (*oauth2.Token, error) {
	s.loads.Add(1)
	s.trap(&s.onLoad)
	return s.lockedStore.Load(ctx)
}

func (s *trapStore) Save(ctx context.Context, tok *oauth2.Token) error {
	s.saves.Add(1)
	s.trap(&s.onSave)
	return s.lockedStore.Save(ctx, tok)
}

func (s *trapStore) Lock(ctx context.Context) (func(), error) {
	s.locks.Add(1)
	s.trap(&s.onLock)
	s.mu.Lock()
	nothing := s.lockReturnsNothing
	s.mu.Unlock()
	if nothing {
		return nil, nil
	}
	return s.lockedStore.Lock(ctx)
}

// checkBacksOff calls s.Token 10 times during the backoff of a failure
// whose error says want, and checks that each gets a BackoffError, that
// count (the calls of the failed step) stays at 1, and that the failure is
// counted once.
func checkBacksOff(t *testing.T, s *Source, count *atomic.Int64, want string) {
	t.Helper()
	for range 10 {
		var be *BackoffError
		if err := boundedToken(t, s); !errors.As(err, &be) || !strings.Contains(err.Error(), want) {
			t.Fatalf("during the backoff: err = %v, want a BackoffError saying %q", err, want)
		}
	}
	if n := count.Load(); n != 1 {
		t.Errorf("the failed step ran %d times in 11 calls, want 1", n)
	}
	if st := s.Stats(); st.RefreshErrors != 1 || st.Refreshes != 0 {
		t.Errorf("Stats = %+v; want 1 refresh error", st)
	}
}

// stepTraps are the steps of a refresh that call code outside the package,
// with a way to set a trap in each and the count of its calls.
var stepTraps = []struct {
	step  string
	set   func(st *trapStore, e *fakeEndpoint, trap func())
	count func(st *trapStore, e *fakeEndpoint) *atomic.Int64
}{
	{"loading the store",
		func(st *trapStore, _ *fakeEndpoint, trap func()) { st.set(func(st *trapStore) { st.onLoad = trap }) },
		func(st *trapStore, _ *fakeEndpoint) *atomic.Int64 { return &st.loads }},
	{"locking the store",
		func(st *trapStore, _ *fakeEndpoint, trap func()) { st.set(func(st *trapStore) { st.onLock = trap }) },
		func(st *trapStore, _ *fakeEndpoint) *atomic.Int64 { return &st.locks }},
	{"requesting a token",
		func(st *trapStore, e *fakeEndpoint, trap func()) {
			next := e.next
			e.next = func(n int64, cur *oauth2.Token) (*oauth2.Token, error) {
				if n == 1 {
					trap()
				}
				return next(n, cur)
			}
		},
		func(_ *trapStore, e *fakeEndpoint) *atomic.Int64 { return &e.calls }},
}

// testTrappedStep sets trap in each step in turn, and checks that the
// refresh fails with an error that says want (after the step's name), backs
// off, and works again after the backoff once the trap is gone.
func testTrappedStep(t *testing.T, trap func(), want string) {
	for _, tt := range stepTraps {
		t.Run(tt.step, func(t *testing.T) {
			clock := newTestClock()
			e := &fakeEndpoint{next: rotating(clock, time.Hour)}
			st := newTrapStore(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)})
			s := New(e.refresh, st, &Options{Now: clock.Now})
			tt.set(st, e, trap)
			count := tt.count(st, e)

			wantErr := "tokensource: " + tt.step + " " + want
			if err := boundedToken(t, s); err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Fatalf("err = %v, want %q", err, wantErr)
			}
			s.waitIdle(t)
			checkBacksOff(t, s, count, wantErr)

			tt.set(st, e, nil)
			clock.Advance(backoffMax)
			if tok, err := s.Token(); err != nil || !strings.HasPrefix(tok.AccessToken, "a") {
				t.Fatalf("after the backoff: %v, %v; want a new token", tok, err)
			}
		})
	}
}

func TestPanicInAStepIsAFailedRefresh(t *testing.T) {
	testTrappedStep(t, func() { panic("boom") }, "panicked: boom")
}

// TestGoexitInAStepStillEndsTheRefresh calls runtime.Goexit in each step, as
// a t.FailNow in a test's fake would: the callers and Wait must not wait
// forever.
func TestGoexitInAStepStillEndsTheRefresh(t *testing.T) {
	testTrappedStep(t, runtime.Goexit, "called runtime.Goexit")
}

func TestPanicInSaveKeepsTheNewToken(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	st := newTrapStore(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)})
	var panicked atomic.Bool
	st.set(func(st *trapStore) {
		st.onSave = func() {
			if !panicked.Swap(true) {
				panic("boom")
			}
		}
	})
	log := &logRecorder{}
	s := New(e.refresh, st, &Options{Now: clock.Now, Logger: log.logger()})
	mustToken(t, s, "a1")
	// The save of a rotated token is tried again before the lock is
	// released (see TestLockerSavesRotatedTokenBeforeUnlock).
	if st := s.Stats(); st.Refreshes != 1 || st.RefreshErrors != 0 || st.SaveErrors != 1 || st.Saves != 1 {
		t.Errorf("Stats = %+v; want 1 refresh, 1 save error, 1 save", st)
	}
	if n := log.count("tokensource: saving the token panicked"); n != 1 {
		t.Errorf("the panic was logged %d times, want 1", n)
	}
}

func TestLockerReturningNoUnlockFailsBeforeTokenRequest(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	st := newTrapStore(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)})
	st.set(func(st *trapStore) { st.lockReturnsNothing = true })
	s := New(e.refresh, st, &Options{Now: clock.Now})

	const want = "tokensource: locking the store: the Locker returned neither an unlock function nor an error"
	if err := boundedToken(t, s); err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	checkBacksOff(t, s, &st.locks, want)
	if n := e.calls.Load(); n != 0 {
		t.Errorf("RefreshFunc called %d times without the lock", n)
	}
}

func TestRefreshReturningExpiredTokenFailsAndBacksOff(t *testing.T) {
	clock := newTestClock()
	var used []string
	e := &fakeEndpoint{next: func(n int64, cur *oauth2.Token) (*oauth2.Token, error) {
		used = append(used, cur.RefreshToken)
		return &oauth2.Token{AccessToken: "a" + itoa(n), RefreshToken: "r" + itoa(n), Expiry: clock.Now().Add(-time.Minute)}, nil
	}}
	s, st := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Hour)}, nil)

	const want = "tokensource: requesting a token: got a token that expired at 2026-01-01T11:59:00Z"
	if err := boundedToken(t, s); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %q", err, want)
	}
	checkBacksOff(t, s, &e.calls, want)
	// Its refresh token is kept, and used by the next refresh.
	if stored, _ := st.Load(context.Background()); stored.RefreshToken != "r1" {
		t.Errorf("stored refresh token %q, want r1", stored.RefreshToken)
	}
	clock.Advance(backoffMax)
	e.next = rotating(clock, time.Hour)
	mustToken(t, s, "a2")
	if len(used) != 1 || used[0] != "r0" {
		t.Errorf("refresh tokens used before: %q, want r0", used)
	}
}

func TestHugeRetryAfterIsCapped(t *testing.T) {
	clock := newTestClock()
	limited := &oauth2.RetrieveError{Response: &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"9223372037"}}}}
	e := &fakeEndpoint{next: failing(limited)}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)}, nil)
	s.Token()
	var be *BackoffError
	if _, err := s.Token(); !errors.As(err, &be) || !be.RetryAt.Equal(clock.Now().Add(retryAfterMax)) {
		t.Fatalf("err = %v, want a BackoffError until %v", err, clock.Now().Add(retryAfterMax))
	}
}

// TestCorruptStoreBacksOffLikeAFailedRefresh has a corrupt token file: the
// error says so (ErrCorrupt), the file is read once, and the error logged
// once, until the backoff has passed.
func TestCorruptStoreBacksOffLikeAFailedRefresh(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	path := filepath.Join(t.TempDir(), "token.json")
	if err := os.WriteFile(path, []byte(`{"access_token": `), 0o600); err != nil {
		t.Fatal(err)
	}
	st := &countingStore{Store: NewFileStore(path)}
	log := &logRecorder{}
	s := New(e.refresh, st, &Options{Now: clock.Now, Logger: log.logger()})

	for i := range 10 {
		if _, err := s.Token(); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("call %d: err = %v, want ErrCorrupt", i, err)
		}
	}
	if n := st.loads.Load(); n != 1 {
		t.Errorf("the corrupt file was read %d times, want 1", n)
	}
	if n := log.count("cannot load the stored token"); n != 1 {
		t.Errorf("logged %d times, want 1", n)
	}
	if got := s.Stats(); got.RefreshErrors != 1 {
		t.Errorf("Stats = %+v, want 1 refresh error", got)
	}

	// A new login replaces the file; it is used once the backoff has passed.
	mustSave(t, NewFileStore(path), &oauth2.Token{AccessToken: "login", RefreshToken: "rl", Expiry: clock.Now().Add(time.Hour)})
	clock.Advance(backoffMin)
	mustToken(t, s, "login")
	if n := e.calls.Load(); n != 0 {
		t.Errorf("RefreshFunc called %d times", n)
	}
}

// TestRefreshReturningNoAccessTokenFails has the RefreshFunc return no
// token, and a token without an access token: each is a failed refresh,
// which backs off, and saves nothing.
func TestRefreshReturningNoAccessTokenFails(t *testing.T) {
	for _, tok := range []*oauth2.Token{nil, {RefreshToken: "r1"}} {
		clock := newTestClock()
		e := &fakeEndpoint{next: func(int64, *oauth2.Token) (*oauth2.Token, error) { return tok, nil }}
		s, st := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)}, nil)
		const want = "tokensource: requesting a token: got no access token"
		if _, err := s.Token(); err == nil || err.Error() != want {
			t.Fatalf("RefreshFunc returning %v: err = %v, want %q", tok, err, want)
		}
		checkBacksOff(t, s, &e.calls, want)
		if n := st.saves.Load(); n != 0 {
			t.Errorf("%d saves after a refresh without an access token, want none", n)
		}
	}
}

// panicUnlockStore is a Store and Locker whose unlock panics.
type panicUnlockStore struct{ Store }

func (panicUnlockStore) Lock(context.Context) (func(), error) {
	return func() { panic("unlock bug") }, nil
}

// TestUnlockPanicKeepsTheNewToken has the store's unlock panic after a
// refresh: the callers get the new token, and the panic is logged.
func TestUnlockPanicKeepsTheNewToken(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	log := &logRecorder{}
	st := panicUnlockStore{storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)})}
	s := New(e.refresh, st, &Options{Now: clock.Now, Logger: log.logger()})
	mustToken(t, s, "a1")
	if n := log.count("tokensource: unlocking the store panicked"); n != 1 {
		t.Errorf("the panic was logged %d times, want 1", n)
	}
	if stored, err := st.Load(context.Background()); err != nil || stored.AccessToken != "a1" {
		t.Errorf("stored %v, %v; want a1", stored, err)
	}
}
