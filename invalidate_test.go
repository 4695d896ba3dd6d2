package tokensource

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// tokenLogHandler is a slog.Handler that needs a token for each record it
// ships, from the Source it logs for: logs shipped with the same
// credentials as the rest of the program.
type tokenLogHandler struct {
	src   atomic.Pointer[Source]
	calls atomic.Int64
}

func (h *tokenLogHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *tokenLogHandler) Handle(_ context.Context, r slog.Record) error {
	// Debug records come from inside the refresh, which the handler would
	// wait for.
	if s := h.src.Load(); s != nil && r.Level >= slog.LevelInfo {
		h.calls.Add(1)
		s.Token()
	}
	return nil
}

func (h *tokenLogHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *tokenLogHandler) WithGroup(string) slog.Handler      { return h }

func TestInvalidateLogsOutsideTheMutex(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	h := &tokenLogHandler{}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)},
		&Options{Logger: slog.New(h)})
	a0 := mustToken(t, s, "a0")
	h.src.Store(s)

	done := make(chan struct{})
	go func() {
		s.Invalidate(a0)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatal("Invalidate deadlocked with a log handler that needs a token")
	}
	if h.calls.Load() == 0 {
		t.Fatal("Invalidate logged nothing at Info")
	}
	mustToken(t, s, "a1")
}

// TestInvalidateRacingPublicationKeepsTokenRejected rejects the current
// token a0 while a refresh that returned the same access token ends: a0
// must not come back as the current token.
func TestInvalidateRacingPublicationKeepsTokenRejected(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: func(int64, *oauth2.Token) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "a0", RefreshToken: "r1", Expiry: clock.Now().Add(time.Hour)}, nil
	}}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}, nil)
	a0 := mustToken(t, s, "a0")
	testHookPublishing = func() { s.Invalidate(a0) }
	t.Cleanup(func() { testHookPublishing = func() {} })

	if tok, err := s.Refresh(context.Background()); !errors.Is(err, errReturnedRejected) {
		t.Fatalf("Refresh = %v, %v; want %v", tok, err, errReturnedRejected)
	}
	testHookPublishing = func() {}
	if tok, err := s.TokenContext(context.Background()); err == nil {
		t.Fatalf("the rejected token %q came back", tok.AccessToken)
	}
	if st := s.Stats(); st.Invalidations != 1 || st.RefreshErrors != 1 || st.Refreshes != 0 {
		t.Errorf("Stats = %+v; want 1 invalidation, 1 refresh error", st)
	}
}

// TestServerInsistingOnRejectedTokenIsServedAfterBackoff has a token
// endpoint that responds to every refresh with the same access token (a
// client-credentials cache): after one rejection, the first refresh fails
// and backs off, and the next one, after the backoff, serves what the
// server insists on: the rejection may have been spurious.
func TestServerInsistingOnRejectedTokenIsServedAfterBackoff(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: func(int64, *oauth2.Token) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "a0", Expiry: clock.Now().Add(time.Hour)}, nil
	}}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}, nil)
	s.Invalidate(mustToken(t, s, "a0"))
	if _, err := s.Token(); !errors.Is(err, errReturnedRejected) {
		t.Fatalf("err = %v, want %v", err, errReturnedRejected)
	}
	var be *BackoffError
	if _, err := s.Token(); !errors.As(err, &be) {
		t.Fatalf("during the backoff: err = %v, want a BackoffError", err)
	}
	clock.Advance(backoffMin)
	mustToken(t, s, "a0")
	mustToken(t, s, "a0")
	if n := e.calls.Load(); n != 2 {
		t.Errorf("RefreshFunc called %d times, want 2", n)
	}
	// It worked for a while, and is rejected again: one more refresh,
	// whose response fails again.
	a0, _ := s.TokenContext(context.Background())
	s.Confirm(a0)
	s.Invalidate(a0)
	if _, err := s.Token(); !errors.Is(err, errReturnedRejected) {
		t.Fatalf("after a new rejection: err = %v, want %v", err, errReturnedRejected)
	}
}

func TestConfirmedTokenRejectionIsNoFailure(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}, nil)
	a1, err := s.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	// A Confirm of an older token, or of another token, confirms nothing.
	s.Confirm(&oauth2.Token{AccessToken: "a0"})
	s.Confirm(nil)
	// One new token rejected before it worked may have been revoked at once.
	s.Invalidate(a1)
	a2 := mustToken(t, s, "a2")
	// The next one too: the server rejects new tokens.
	s.Invalidate(a2)
	var be *BackoffError
	if _, err := s.Token(); !errors.As(err, &be) || !errors.Is(err, errNeverWorked) {
		t.Fatalf("after two tokens in a row rejected before they worked: err = %v, want a BackoffError for %v", err, errNeverWorked)
	}

	clock.Advance(backoffMin)
	a3 := mustToken(t, s, "a3")
	s.Confirm(a3)
	s.Invalidate(a3)
	a4 := mustToken(t, s, "a4")
	// A confirmed token between two unused ones breaks the run.
	s.Invalidate(a4)
	mustToken(t, s, "a5")
	if st := s.Stats(); st.Refreshes != 5 || st.RefreshErrors != 1 || st.Invalidations != 4 {
		t.Errorf("Stats = %+v; want 5 refreshes, 1 error, 4 invalidations", st)
	}

	a5, _ := s.TokenContext(context.Background())
	allocs := testing.AllocsPerRun(1000, func() { s.Confirm(a5) })
	if allocs != 0 {
		t.Errorf("Confirm allocates %v times per call", allocs)
	}
}

// rejectingServer is an API behind a proxy that strips the Authorization
// header, until it is fixed: then it accepts every token the token server
// issued.
type rejectingServer struct {
	*httptest.Server
	fixed    atomic.Bool
	rejected atomic.Int64
}

func newRejectingServer(t *testing.T, tokens *tokensourcetest.Server) *rejectingServer {
	rs := &rejectingServer{}
	rs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rs.fixed.Load() {
			http.Redirect(w, r, tokens.ResourceURL(), http.StatusTemporaryRedirect)
			return
		}
		rs.rejected.Add(1)
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(rs.Close)
	return rs
}

// TestServerRejectingEveryTokenCostsBoundedRefreshes sends 20 requests, one
// after the other, through NewClient to a server that rejects every token:
// two refreshed tokens in a row never work, which backs off, so that the
// requests cost two token requests instead of one each. Once the server is
// fixed, the first request after the backoff gets a new token, which works.
func TestServerRejectingEveryTokenCostsBoundedRefreshes(t *testing.T) {
	r := newServerRig(t, nil)
	rs := newRejectingServer(t, r.srv)
	c := NewClient(context.Background(), r.src)
	get := func() (int, error) {
		resp, err := c.Get(rs.URL)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}

	for i := range 20 {
		if status, err := get(); err == nil && status != http.StatusUnauthorized {
			t.Fatalf("request %d: got %d", i, status)
		}
	}
	if n := r.requests(); n != 2 {
		t.Errorf("20 requests to a server that rejects every token cost %d token requests, want 2", n)
	}
	// The first request and its retry carry the stored token and the first
	// refreshed one, the second request and its retry that one and the
	// second refreshed one, which the third request carries; from then on,
	// the requests fail in the backoff.
	if n := rs.rejected.Load(); n != 5 {
		t.Errorf("the server rejected %d requests, want 5", n)
	}

	rs.fixed.Store(true)
	r.clock.Advance(backoffMin)
	for i := range 5 {
		if status, err := get(); err != nil || status != http.StatusOK {
			t.Fatalf("request %d after the fix: %d, %v", i, status, err)
		}
	}
	if n := r.requests(); n != 3 {
		t.Errorf("%d token requests, want 3", n)
	}
	if st := r.src.Stats(); st.Refreshes != 3 || st.RefreshErrors != 1 {
		t.Errorf("Stats = %+v; want 3 refreshes, 1 error", st)
	}
}

// getsOK sends callers × each GETs to url through c, callers at once, and
// returns how many failed or got another status than 200.
func getsOK(t *testing.T, c *http.Client, url string, callers, each int) int64 {
	var failed atomic.Int64
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range each {
				resp, err := c.Get(url)
				if err != nil {
					t.Error(err)
					failed.Add(1)
					return
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return failed.Load()
}

// TestTransportRecoversRevokedWorkingTokens revokes the current
// token every 0.7s while requests with it succeed: each revocation costs
// one refresh, and no request fails, however young the token was.
func TestTransportRecoversRevokedWorkingTokens(t *testing.T) {
	const rounds, callers = 10, 4
	r := newServerRig(t, nil)
	c := NewClient(context.Background(), r.src)
	failed := getsOK(t, c, r.srv.ResourceURL(), callers, 3)
	for range rounds {
		r.clock.Advance(700 * time.Millisecond)
		tok, err := r.src.TokenContext(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		r.srv.RevokeAccessToken(tok.AccessToken)
		failed += getsOK(t, c, r.srv.ResourceURL(), callers, 3)
	}
	if failed != 0 {
		t.Errorf("%d requests failed", failed)
	}
	if st := r.src.Stats(); st.Refreshes != rounds || st.RefreshErrors != 0 || st.Invalidations != rounds {
		t.Errorf("Stats = %+v; want %d refreshes and invalidations, no error", st, rounds)
	}
}

// TestTransportRecoversNewTokenRevokedBeforeUse revokes each new token
// before any request carries it, as an administrator who revokes a session
// may: the first request to carry it gets a 401, a refresh, and a 200, and
// no request fails.
func TestTransportRecoversNewTokenRevokedBeforeUse(t *testing.T) {
	const rounds, callers = 5, 4
	r := newServerRig(t, nil)
	c := NewClient(context.Background(), r.src)
	var failed int64
	for range rounds {
		tok, err := r.src.Refresh(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		r.srv.RevokeAccessToken(tok.AccessToken)
		failed += getsOK(t, c, r.srv.ResourceURL(), callers, 1)
	}
	if failed != 0 {
		t.Errorf("%d requests failed", failed)
	}
	if st := r.src.Stats(); st.Refreshes != 2*rounds || st.RefreshErrors != 0 {
		t.Errorf("Stats = %+v; want %d refreshes, no error", st, 2*rounds)
	}
}

func TestInvalidateDropsOnlyTheRejectedToken(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}, nil)

	a0, _ := s.Token()
	s.Invalidate(&oauth2.Token{AccessToken: "other"})
	s.Invalidate(nil)
	if tok, _ := s.TokenContext(context.Background()); tok.AccessToken != a0.AccessToken || e.calls.Load() != 0 {
		t.Fatalf("Invalidate of another token dropped the current one")
	}

	s.Invalidate(a0)
	a1, err := s.Token()
	if err != nil || a1.AccessToken != "a1" {
		t.Fatalf("after Invalidate: %v, %v; want a1", a1, err)
	}
	if a1.RefreshToken != "r1" {
		t.Errorf("refresh token = %q, want r1", a1.RefreshToken)
	}

	// A late 401 for a0 must not drop a1.
	s.Invalidate(a0)
	if tok, _ := s.TokenContext(context.Background()); tok.AccessToken != a1.AccessToken {
		t.Fatalf("a stale Invalidate dropped the newer token")
	}
	if st := s.Stats(); st.Invalidations != 1 || st.Refreshes != 1 {
		t.Errorf("Stats = %+v; want 1 invalidation, 1 refresh", st)
	}
}

func TestConcurrentInvalidateOneRefresh(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}, nil)
	a0, _ := s.Token()

	var wg sync.WaitGroup
	for range 100 {
		wg.Go(func() {
			s.Invalidate(a0)
			if tok, err := s.Token(); err != nil || tok.AccessToken != "a1" {
				t.Errorf("got %v, %v; want a1", tok, err)
			}
		})
	}
	wg.Wait()
	if n := e.calls.Load(); n != 1 {
		t.Errorf("RefreshFunc called %d times for 100 rejections of one token, want 1", n)
	}
}

func TestRefreshReturningTheRejectedTokenFails(t *testing.T) {
	clock := newTestClock()
	same := &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}
	e := &fakeEndpoint{next: func(int64, *oauth2.Token) (*oauth2.Token, error) { return cloneToken(same), nil }}
	s, _ := newSource(t, e, clock, same, nil)
	a0 := mustToken(t, s, "a0")

	s.Invalidate(a0)
	if _, err := s.Token(); err == nil {
		t.Fatal("the rejected token was served again")
	}
	// It counts as a failure: the next calls back off instead of refreshing.
	for range 10 {
		var be *BackoffError
		if _, err := s.Token(); !errors.As(err, &be) {
			t.Fatalf("err = %v, want BackoffError", err)
		}
	}
	if n := e.calls.Load(); n != 1 {
		t.Errorf("RefreshFunc called %d times, want 1", n)
	}
}
