package tokensource_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

var epoch = time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

type result struct {
	tok *oauth2.Token
	err error
}

func tokenAsync(s *tokensource.Source) <-chan result {
	ch := make(chan result, 1)
	go func() {
		tok, err := s.TokenContext(context.Background())
		ch <- result{tok, err}
	}()
	return ch
}

func storedAccess(t *testing.T, st tokensource.Store) string {
	t.Helper()
	tok, err := st.Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return tok.AccessToken
}

// TestDataLossWritesGrantBack is scenario 4 of issue 17: the store loses
// its record while two Sources hold valid refresh tokens; the next refresh
// writes the grant back, nothing is reused, and the store ends with a
// grant that works.
func TestDataLossWritesGrantBack(t *testing.T) {
	clock := tokensourcetest.NewClock(epoch)
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now})
	defer srv.Close()
	conf := srv.Config()
	var calls atomic.Int64
	refresh := func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		calls.Add(1)
		tok, err := conf.TokenSource(ctx, &oauth2.Token{RefreshToken: cur.RefreshToken}).Token()
		if err != nil {
			return nil, err
		}
		tok.Expiry = clock.Now().Add(time.Hour) // x/oauth2 dates it on the real clock
		return tok, nil
	}
	st := tokensource.NewMemoryStore()
	login := srv.Login()
	login.Expiry = clock.Now().Add(time.Hour)
	if err := st.Save(context.Background(), login); err != nil {
		t.Fatal(err)
	}
	opts := &tokensource.Options{Now: clock.Now, RefreshAhead: -1}
	a, b := tokensource.New(refresh, st, opts), tokensource.New(refresh, st, opts)
	for _, s := range []*tokensource.Source{a, b} {
		if _, err := s.Token(); err != nil {
			t.Fatal(err)
		}
	}
	st.Clear()
	clock.Advance(2 * time.Hour)

	ta, err := a.Token()
	if err != nil {
		t.Fatalf("A after Clear: %v", err)
	}
	tb, err := b.Token()
	if err != nil {
		t.Fatalf("B after Clear: %v", err)
	}
	if tb.AccessToken != ta.AccessToken {
		t.Fatalf("B serves %q, A %q: B did not adopt A's refresh", tb.AccessToken, ta.AccessToken)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("RefreshFunc calls = %d, want 1", n)
	}
	if got := storedAccess(t, st); got != ta.AccessToken {
		t.Fatalf("store holds %q, want %q", got, ta.AccessToken)
	}
	// The stored grant works: its refresh token is the newest.
	stored, _ := st.Load(context.Background())
	if _, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: stored.RefreshToken}).Token(); err != nil {
		t.Fatalf("refresh with the stored grant: %v", err)
	}
	if s := srv.Stats(); s.ReuseDetected != 0 || s.Refreshes != 2 {
		t.Fatalf("server stats %+v, want 0 reuse and 2 refreshes", s)
	}
}

// blockingRefresh returns a RefreshFunc that reports each call on started
// and returns what release sends it.
func blockingRefresh(started chan<- struct{}, release <-chan *oauth2.Token, calls *atomic.Int64) tokensource.RefreshFunc {
	return func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		calls.Add(1)
		started <- struct{}{}
		return <-release, nil
	}
}

// TestLoginDuringRefresh is scenario 5 of issue 17: a login saved while a
// slow refresh is in flight is not overwritten by that refresh's save, and
// the Source serves the login's token.
func TestLoginDuringRefresh(t *testing.T) {
	clock := tokensourcetest.NewClock(epoch)
	st := tokensource.NewMemoryStore()
	ctx := context.Background()
	if err := st.Save(ctx, &oauth2.Token{AccessToken: "old", RefreshToken: "r-old", Expiry: clock.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}, 1), make(chan *oauth2.Token)
	var calls atomic.Int64
	src := tokensource.New(blockingRefresh(started, release, &calls), st, &tokensource.Options{Now: clock.Now, RefreshAhead: -1})
	res := tokenAsync(src)
	waitFor(t, started, "the refresh")
	login := &oauth2.Token{AccessToken: "login", RefreshToken: "r-login", Expiry: clock.Now().Add(time.Hour)}
	if err := st.Save(ctx, login); err != nil {
		t.Fatal(err)
	}
	release <- &oauth2.Token{AccessToken: "refreshed", RefreshToken: "r-refreshed", Expiry: clock.Now().Add(time.Hour)}
	r := waitFor(t, res, "TokenContext")
	if r.err != nil || r.tok.AccessToken != "login" {
		t.Fatalf("the refresh's caller got %v, %v; want the login's token", r.tok, r.err)
	}
	if got := storedAccess(t, st); got != "login" {
		t.Fatalf("store holds %q, want the login's token", got)
	}
	tok, err := src.Token()
	if err != nil || tok.AccessToken != "login" {
		t.Fatalf("Token = %v, %v; want the login's token", tok, err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("RefreshFunc calls = %d, want 1", n)
	}
}

// TestTombstoneStopsSource: after Delete, a Source holding a valid token
// stops serving it at its next load, fails with ErrReauthRequired, never
// writes the grant back, and adopts a later login.
func TestTombstoneStopsSource(t *testing.T) {
	clock := tokensourcetest.NewClock(epoch)
	st := tokensource.NewMemoryStore()
	ctx := context.Background()
	if err := st.Save(ctx, &oauth2.Token{AccessToken: "a1", RefreshToken: "r1", Expiry: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	refresh := func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		calls.Add(1)
		return &oauth2.Token{AccessToken: "a2", RefreshToken: "r2", Expiry: clock.Now().Add(time.Hour)}, nil
	}
	src := tokensource.New(refresh, st, &tokensource.Options{Now: clock.Now, RefreshAhead: -1})
	if tok, err := src.Token(); err != nil || tok.AccessToken != "a1" {
		t.Fatalf("Token = %v, %v", tok, err)
	}
	if err := st.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	for i := range 3 {
		tok, err := src.Token()
		if !errors.Is(err, tokensource.ErrReauthRequired) || !errors.Is(err, tokensource.ErrLoggedOut) {
			t.Fatalf("call %d: Token = %v, %v; want ErrReauthRequired and ErrLoggedOut", i, tok, err)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("RefreshFunc calls = %d, want 0", n)
	}
	if _, err := st.Load(ctx); !errors.Is(err, tokensource.ErrLoggedOut) {
		t.Fatalf("Load: %v, want ErrLoggedOut: the grant was written back", err)
	}
	if err := st.Save(ctx, &oauth2.Token{AccessToken: "login", RefreshToken: "r-login", Expiry: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if tok, err := src.Token(); err != nil || tok.AccessToken != "login" {
		t.Fatalf("after login: Token = %v, %v; want the login's token", tok, err)
	}
}
