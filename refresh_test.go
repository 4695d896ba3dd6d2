package tokensource

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

func TestEveryNewTokenSavedOnce(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	st := &countingStore{Store: storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)})}
	s := New(e.refresh, st, &Options{Now: clock.Now, RefreshAhead: -1})

	for range 3 {
		for range 1000 {
			s.Token()
		}
		clock.Advance(time.Hour)
	}
	mustToken(t, s, "a3")
	if diff := cmp.Diff([]string{"a1", "a2", "a3"}, st.savedTokens()); diff != "" {
		t.Errorf("saved tokens (-want +got):\n%s", diff)
	}
	if got := s.Stats(); got.Saves != 3 || got.Refreshes != 3 {
		t.Errorf("Stats = %+v; want 3 saves, 3 refreshes", got)
	}
}

func TestSaveFailureKeepsTokenAndRetries(t *testing.T) {
	clock := newTestClock()
	var bases []string
	e := &fakeEndpoint{next: func(n int64, cur *oauth2.Token) (*oauth2.Token, error) {
		bases = append(bases, cur.RefreshToken)
		return rotating(clock, time.Hour)(n, cur)
	}}
	st := &countingStore{Store: storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Hour)})}
	st.failSaves.Store(1)
	s := New(e.refresh, st, &Options{Now: clock.Now, RefreshAhead: -1})

	// The save of a1 fails: a1 is still returned and kept.
	mustToken(t, s, "a1")
	mustToken(t, s, "a1")
	if got := s.Stats(); got.SaveErrors != 1 || got.Saves != 0 {
		t.Fatalf("Stats = %+v; want 1 save error", got)
	}

	// At the next refresh a1 (with the rotated r1) is saved first, then a2.
	clock.Advance(time.Hour)
	mustToken(t, s, "a2")
	if diff := cmp.Diff([]string{"a1", "a2"}, st.savedTokens()); diff != "" {
		t.Errorf("saved tokens (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"r0", "r1"}, bases); diff != "" {
		t.Errorf("refresh tokens used (-want +got):\n%s", diff)
	}
}

func TestSaveRetriedEvenIfRefreshFails(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	st := &countingStore{Store: storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Hour)})}
	st.failSaves.Store(1)
	s := New(e.refresh, st, &Options{Now: clock.Now, RefreshAhead: -1})
	mustToken(t, s, "a1")

	clock.Advance(time.Hour)
	e.next = failing(errEndpoint)
	if _, err := s.Token(); !errors.Is(err, errEndpoint) {
		t.Fatalf("err = %v, want the endpoint's error", err)
	}
	// The rotated refresh token r1 reached the store before the refresh.
	stored, _ := st.Load(context.Background())
	if stored.RefreshToken != "r1" {
		t.Errorf("stored refresh token = %q, want r1", stored.RefreshToken)
	}
}

func TestRefreshTokenKeptWhenResponseHasNone(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: func(n int64, _ *oauth2.Token) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "a" + itoa(n), ExpiresIn: 3600}, nil
	}}
	st := storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Hour)})
	s := New(e.refresh, st, &Options{Now: clock.Now})

	tok := mustToken(t, s, "a1")
	if tok.RefreshToken != "r0" {
		t.Errorf("refresh token = %q, want r0 kept", tok.RefreshToken)
	}
	if want := clock.Now().Add(time.Hour); !tok.Expiry.Equal(want) {
		t.Errorf("Expiry = %v, want %v from ExpiresIn on the Source's clock", tok.Expiry, want)
	}
	stored, _ := st.Load(context.Background())
	if stored.RefreshToken != "r0" {
		t.Errorf("stored refresh token = %q, want r0", stored.RefreshToken)
	}
}

func TestLoadErrorNamesStoreAndSavesNothing(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	broken := errors.New("token file /x/token.json is corrupt")
	st := &countingStore{Store: failingLoadStore{broken}}
	s := New(e.refresh, st, &Options{Now: clock.Now})
	if _, err := s.Token(); !errors.Is(err, broken) {
		t.Fatalf("err = %v, want the store's error", err)
	}
	if e.calls.Load() != 0 || len(st.savedTokens()) != 0 {
		t.Errorf("refreshed %d times and saved %v after a failed load", e.calls.Load(), st.savedTokens())
	}
}

type failingLoadStore struct{ err error }

func (f failingLoadStore) Load(context.Context) (*oauth2.Token, error) { return nil, f.err }
func (f failingLoadStore) Save(context.Context, *oauth2.Token) error   { return nil }

func TestLockerAdoptsTokenRefreshedByAnother(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	shared := newLockedStore(storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}))
	var bases sync.Map
	refresh := func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		if _, used := bases.LoadOrStore(cur.RefreshToken, true); used {
			t.Errorf("refresh token %q used twice", cur.RefreshToken)
		}
		return e.refresh(ctx, cur)
	}
	a := New(refresh, shared, &Options{Now: clock.Now, RefreshAhead: -1})
	b := New(refresh, shared, &Options{Now: clock.Now, RefreshAhead: -1})
	mustToken(t, a, "a0")
	mustToken(t, b, "a0")

	for round := int64(1); round <= 3; round++ {
		clock.Advance(time.Hour)
		var wg sync.WaitGroup
		for range 50 {
			wg.Go(func() { a.Token() })
			wg.Go(func() { b.Token() })
		}
		wg.Wait()
		want := "a" + itoa(round)
		mustToken(t, a, want)
		mustToken(t, b, want)
	}
	if n := e.calls.Load(); n != 3 {
		t.Errorf("RefreshFunc called %d times for 3 expiries, want 3", n)
	}
	if got := a.Stats().Adopted + b.Stats().Adopted; got != 3 {
		t.Errorf("adopted %d tokens, want 3 (one per expiry)", got)
	}
}

func TestWaiterRefreshesWithRefreshTokenReadUnderLock(t *testing.T) {
	// Another process rotated the refresh token and saved an access token
	// that is already expired: the refresh must use its refresh token, not
	// the one this Source read earlier.
	clock := newTestClock()
	var used []string
	e := &fakeEndpoint{next: func(n int64, cur *oauth2.Token) (*oauth2.Token, error) {
		used = append(used, cur.RefreshToken)
		return rotating(clock, time.Hour)(n, cur)
	}}
	st := newLockedStore(storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}))
	s := New(e.refresh, st, &Options{Now: clock.Now, RefreshAhead: -1})
	mustToken(t, s, "a0")
	st.Save(context.Background(), &oauth2.Token{AccessToken: "x", RefreshToken: "r-other", Expiry: clock.Now().Add(time.Minute)})
	clock.Advance(2 * time.Hour)
	mustToken(t, s, "a1")
	if diff := cmp.Diff([]string{"r-other"}, used); diff != "" {
		t.Errorf("refresh tokens used (-want +got):\n%s", diff)
	}
}

func TestInvalidatedTokenNotAdoptedAgain(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	st := storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)})
	s := New(e.refresh, st, &Options{Now: clock.Now})
	mustToken(t, s, "a0")

	// Another process saves x, this Source adopts it at its next refresh,
	// and a server rejects x.
	x := &oauth2.Token{AccessToken: "x", RefreshToken: "rx", Expiry: clock.Now().Add(time.Hour)}
	st.Save(context.Background(), x)
	s.Invalidate(mustToken(t, s, "a0"))
	mustToken(t, s, "x")
	s.Invalidate(x)
	// The store still holds x, valid by its expiry: it is refreshed, not
	// adopted again.
	mustToken(t, s, "a1")
	if st := s.Stats(); st.Adopted != 1 || st.Refreshes != 1 || st.Invalidations != 2 {
		t.Errorf("Stats = %+v; want 1 adopted, 1 refresh, 2 invalidations", st)
	}
}

func TestStoreChangeSeenDuringBackoffStillUsedAfter(t *testing.T) {
	clock := newTestClock()
	var used []string
	fail := true
	e := &fakeEndpoint{next: func(n int64, cur *oauth2.Token) (*oauth2.Token, error) {
		used = append(used, cur.RefreshToken)
		if fail {
			return nil, errEndpoint
		}
		return rotating(clock, time.Hour)(n, cur)
	}}
	st := storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)})
	s := New(e.refresh, st, &Options{Now: clock.Now, RefreshAhead: -1})
	mustToken(t, s, "a0")
	clock.Advance(time.Hour)
	if _, err := s.Token(); !errors.Is(err, errEndpoint) {
		t.Fatalf("err = %v", err)
	}

	// Another process saves an expired token with a rotated refresh token;
	// a call during the backoff sees it but may not refresh.
	st.Save(context.Background(), &oauth2.Token{AccessToken: "x", RefreshToken: "rx", Expiry: clock.Now().Add(-time.Second)})
	var be *BackoffError
	if _, err := s.Token(); !errors.As(err, &be) {
		t.Fatalf("during backoff: err = %v, want BackoffError", err)
	}
	// After the backoff, the refresh uses rx: r0 was rotated away.
	clock.Advance(backoffMax)
	fail = false
	mustToken(t, s, "a2")
	if diff := cmp.Diff([]string{"r0", "rx"}, used); diff != "" {
		t.Errorf("refresh tokens used (-want +got):\n%s", diff)
	}
}

func TestRetryAfterFailedRefreshKeepsStoredRefreshToken(t *testing.T) {
	// Another process rotated r0 away and saved x/rx, already expired. The
	// refresh with rx fails for a passing reason: the retry must use rx
	// again, not the r0 this Source still holds.
	clock := newTestClock()
	var used []string
	e := &fakeEndpoint{next: func(n int64, cur *oauth2.Token) (*oauth2.Token, error) {
		used = append(used, cur.RefreshToken)
		if n == 1 {
			return nil, errEndpoint
		}
		return rotating(clock, time.Hour)(n, cur)
	}}
	st := newLockedStore(storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}))
	s := New(e.refresh, st, &Options{Now: clock.Now, RefreshAhead: -1})
	mustToken(t, s, "a0")
	st.Save(context.Background(), &oauth2.Token{AccessToken: "x", RefreshToken: "rx", Expiry: clock.Now().Add(time.Minute)})
	clock.Advance(2 * time.Hour)
	if _, err := s.Token(); !errors.Is(err, errEndpoint) {
		t.Fatalf("err = %v, want the endpoint's error", err)
	}
	clock.Advance(backoffMax)
	mustToken(t, s, "a2")
	if diff := cmp.Diff([]string{"rx", "rx"}, used); diff != "" {
		t.Errorf("refresh tokens used (-want +got):\n%s", diff)
	}
}

func TestUnsavedTokenNeverOverwritesNewerStoredOne(t *testing.T) {
	// a1's save fails; then the user logs in again elsewhere (y/ry). a1 is
	// older than y: it must never be saved over it, nor r1 used.
	clock := newTestClock()
	var used []string
	e := &fakeEndpoint{next: func(n int64, cur *oauth2.Token) (*oauth2.Token, error) {
		used = append(used, cur.RefreshToken)
		if n == 2 {
			return nil, errEndpoint
		}
		return rotating(clock, time.Hour)(n, cur)
	}}
	mem := storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)})
	st := &countingStore{Store: mem}
	s := New(e.refresh, st, &Options{Now: clock.Now, RefreshAhead: -1})
	mustToken(t, s, "a0")
	clock.Advance(2 * time.Hour)
	st.failSaves.Store(1)
	mustToken(t, s, "a1")

	mem.Save(context.Background(), &oauth2.Token{AccessToken: "y", RefreshToken: "ry", Expiry: clock.Now().Add(-time.Second)})
	clock.Advance(2 * time.Hour)
	if _, err := s.Token(); !errors.Is(err, errEndpoint) {
		t.Fatalf("err = %v, want the endpoint's error", err)
	}
	clock.Advance(backoffMax)
	mustToken(t, s, "a3")
	if diff := cmp.Diff([]string{"r0", "ry", "ry"}, used); diff != "" {
		t.Errorf("refresh tokens used (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a3"}, st.savedTokens()); diff != "" {
		t.Errorf("saved tokens (-want +got):\n%s", diff)
	}
}

func TestRejectedAccessTokenKeepsRotatedRefreshToken(t *testing.T) {
	// The server responds to the refresh after a 401 with the same access token
	// but a rotated refresh token: the refresh fails, but r1 is kept and
	// saved, and the next refresh uses it.
	clock := newTestClock()
	var used []string
	e := &fakeEndpoint{next: func(n int64, cur *oauth2.Token) (*oauth2.Token, error) {
		used = append(used, cur.RefreshToken)
		at := "a0"
		if n > 1 {
			at = "a" + itoa(n)
		}
		return &oauth2.Token{AccessToken: at, RefreshToken: "r" + itoa(n), Expiry: clock.Now().Add(time.Hour)}, nil
	}}
	st := storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)})
	s := New(e.refresh, st, &Options{Now: clock.Now, RefreshAhead: -1})
	s.Invalidate(mustToken(t, s, "a0"))
	if _, err := s.Token(); err == nil {
		t.Fatal("the rejected access token was served again")
	}
	if stored, _ := st.Load(context.Background()); stored.RefreshToken != "r1" {
		t.Errorf("stored refresh token = %q, want the rotated r1", stored.RefreshToken)
	}
	clock.Advance(backoffMax)
	mustToken(t, s, "a2")
	if diff := cmp.Diff([]string{"r0", "r1"}, used); diff != "" {
		t.Errorf("refresh tokens used (-want +got):\n%s", diff)
	}
}

func TestDeletedStoreMeansLogOut(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: func(n int64, cur *oauth2.Token) (*oauth2.Token, error) {
		if cur == nil {
			return nil, fmt.Errorf("%w: no refresh token", ErrReauthRequired)
		}
		return rotating(clock, time.Hour)(n, cur)
	}}
	st := storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)})
	s := New(e.refresh, st, &Options{Now: clock.Now, RefreshAhead: -1})
	mustToken(t, s, "a0")
	st.Save(context.Background(), nil) // the token file is deleted
	clock.Advance(2 * time.Hour)
	if _, err := s.Token(); !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("err = %v, want ErrReauthRequired", err)
	}
	if stored, err := st.Load(context.Background()); !errors.Is(err, ErrNotFound) {
		t.Errorf("the store holds %v again after a log-out", stored)
	}
}

// coarseStore keeps Expiry only to precision, as stores do that keep whole
// seconds (a JSON number) or microseconds (a PostgreSQL timestamptz).
type coarseStore struct {
	Store
	precision time.Duration
}

func (c coarseStore) coarse(tok *oauth2.Token) *oauth2.Token {
	if tok == nil {
		return nil
	}
	tok = cloneToken(tok)
	tok.Expiry = tok.Expiry.Truncate(c.precision)
	return tok
}

func (c coarseStore) Load(ctx context.Context) (*oauth2.Token, error) {
	tok, err := c.Store.Load(ctx)
	return c.coarse(tok), err
}

func (c coarseStore) Save(ctx context.Context, tok *oauth2.Token) error {
	return c.Store.Save(ctx, c.coarse(tok))
}

// TestCoarseStoreTimeIsNoChange reloads a Source's own token from stores
// that keep coarser time than a time.Time: it is not taken for a token
// someone else saved, and a forced refresh still refreshes.
func TestCoarseStoreTimeIsNoChange(t *testing.T) {
	for _, precision := range []time.Duration{time.Second, time.Microsecond} {
		t.Run(precision.String(), func(t *testing.T) {
			clock := newTestClock()
			clock.Advance(123456789 * time.Nanosecond)
			e := &fakeEndpoint{next: rotating(clock, time.Hour)}
			st := newLockedStore(coarseStore{storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}), precision})
			log := &logRecorder{}
			s := New(e.refresh, st, &Options{Now: clock.Now, Logger: log.logger()})
			for i := 1; i <= 3; i++ {
				if tok, err := s.Refresh(context.Background()); err != nil || tok.AccessToken != "a"+itoa(int64(i)) {
					t.Fatalf("Refresh %d = %v, %v; want a%d", i, tok, err, i)
				}
			}
			if st := s.Stats(); st.Refreshes != 3 || st.Adopted != 0 {
				t.Errorf("Stats = %+v; want 3 refreshes, none adopted", st)
			}
			if n := log.count("adopted"); n != 0 {
				t.Errorf("logged %d adoptions", n)
			}
		})
	}
}

// unlockRecorder is a lockedStore that records the refresh token it holds
// each time its lock is released.
type unlockRecorder struct {
	*lockedStore
	mu       sync.Mutex
	atUnlock []string
}

func (u *unlockRecorder) Lock(ctx context.Context) (func(), error) {
	unlock, err := u.lockedStore.Lock(ctx)
	if err != nil {
		return nil, err
	}
	return func() {
		tok, _ := u.lockedStore.Load(context.Background())
		u.mu.Lock()
		u.atUnlock = append(u.atUnlock, refreshToken(tok))
		u.mu.Unlock()
		unlock()
	}, nil
}

// TestLockerSavesRotatedTokenBeforeUnlock has the save of a rotated token fail
// once: it is tried again before the store's lock is released, so that the
// next process to take the lock (here, Source b) refreshes with the new
// refresh token and not the spent one.
func TestLockerSavesRotatedTokenBeforeUnlock(t *testing.T) {
	clock := newTestClock()
	var used []string
	var mu sync.Mutex
	e := &fakeEndpoint{next: func(n int64, cur *oauth2.Token) (*oauth2.Token, error) {
		mu.Lock()
		defer mu.Unlock()
		used = append(used, cur.RefreshToken)
		return rotating(clock, time.Hour)(n, cur)
	}}
	saves := &countingStore{Store: storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)})}
	st := &unlockRecorder{lockedStore: newLockedStore(saves)}
	saves.failSaves.Store(1)
	a := New(e.refresh, st, &Options{Now: clock.Now})
	b := New(e.refresh, st, &Options{Now: clock.Now, RefreshAhead: -1})
	mustToken(t, a, "a1")
	if diff := cmp.Diff([]string{"r1"}, st.atUnlock); diff != "" {
		t.Errorf("refresh token in the store when the lock was released (-want +got):\n%s", diff)
	}
	if got := a.Stats(); got.SaveErrors != 1 || got.Saves != 1 {
		t.Errorf("Stats = %+v; want 1 save error, then 1 save", got)
	}
	// b adopts a1; once it expires, b refreshes with r1.
	mustToken(t, b, "a1")
	clock.Advance(time.Hour)
	mustToken(t, b, "a2")
	if diff := cmp.Diff([]string{"r0", "r1"}, used); diff != "" {
		t.Errorf("refresh tokens used (-want +got):\n%s", diff)
	}

	// A store that stays down: the save is retried a bounded number of
	// times, then the token is kept in memory, and the lock released.
	saves.failSaves.Store(1000)
	clock.Advance(time.Hour)
	mustToken(t, a, "a3")
	if got := a.Stats(); got.SaveErrors < 2 || got.SaveErrors > 10 {
		t.Errorf("Stats = %+v; want a few save errors", got)
	}
	if got := st.atUnlock[len(st.atUnlock)-1]; got != "r2" {
		t.Errorf("the store holds %q after the failed save, want r2 still", got)
	}
}

func TestNewLoginAfterReauthOnEmptyStoreCountsAsAdopted(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: func(n int64, cur *oauth2.Token) (*oauth2.Token, error) {
		return nil, fmt.Errorf("%w: no refresh token", ErrReauthRequired)
	}}
	st := NewMemoryStore()
	s := New(e.refresh, st, &Options{Now: clock.Now})
	if _, err := s.Token(); !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("err = %v, want ErrReauthRequired", err)
	}
	st.Save(context.Background(), &oauth2.Token{AccessToken: "login", RefreshToken: "rl", Expiry: clock.Now().Add(time.Hour)})
	mustToken(t, s, "login")
	if got := s.Stats(); got.Adopted != 1 {
		t.Errorf("Stats = %+v; want the new login adopted", got)
	}
}

// TestLockerAdoptsTokenSavedWhileWaitingForTheLock runs the path the lock
// exists for, in one process: two Sources, as two processes would, on one
// token file. b needs a refresh while a holds the lock for its own; once a
// has saved its new token and released the lock, b takes the lock, finds
// that token in the store, and adopts it without a token request.
func TestLockerAdoptsTokenSavedWhileWaitingForTheLock(t *testing.T) {
	clock := newTestClock()
	path := filepath.Join(t.TempDir(), "token.json")
	mustSave(t, NewFileStore(path), &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)})
	ea := &fakeEndpoint{next: rotating(clock, time.Hour), entered: make(chan struct{}, 1), release: make(chan struct{})}
	eb := &fakeEndpoint{next: rotating(clock, time.Hour)}
	a := New(ea.refresh, NewFileStore(path), &Options{Now: clock.Now})
	b := New(eb.refresh, NewFileStore(path), &Options{Now: clock.Now})

	ga := make(chan *oauth2.Token, 1)
	go func() {
		tok, _ := a.Token()
		ga <- tok
	}()
	recv(t, ea.entered) // a holds the lock, in its token request
	waiting := make(chan struct{})
	onLockBusy(t, path, func() { close(waiting) })
	gb := make(chan *oauth2.Token, 1)
	go func() {
		tok, _ := b.Token()
		gb <- tok
	}()
	recv(t, waiting)
	close(ea.release)

	ta, tb := recv(t, ga), recv(t, gb)
	if ta == nil || tb == nil || ta.AccessToken != "a1" || tb.AccessToken != "a1" {
		t.Fatalf("a got %v, b got %v; want both a's new token a1", ta, tb)
	}
	if n := eb.calls.Load(); n != 0 {
		t.Errorf("b sent %d token requests, want none", n)
	}
	if st := b.Stats(); st.Adopted != 1 || st.Refreshes != 0 || st.Saves != 0 {
		t.Errorf("b: Stats = %+v; want 1 adopted, no refresh, no save", st)
	}
}
