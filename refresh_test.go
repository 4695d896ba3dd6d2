package tokensource

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

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
