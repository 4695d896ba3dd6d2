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
// endpoint that answers every refresh with the same access token (a
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
	// whose answer fails again.
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
	s.Invalidate(a1)
	var be *BackoffError
	if _, err := s.Token(); !errors.As(err, &be) || !errors.Is(err, errNeverWorked) {
		t.Fatalf("after the rejection of a token that never worked: err = %v, want a BackoffError for %v", err, errNeverWorked)
	}

	clock.Advance(backoffMin)
	a2 := mustToken(t, s, "a2")
	s.Confirm(a2)
	s.Invalidate(a2)
	mustToken(t, s, "a3")
	if st := s.Stats(); st.Refreshes != 3 || st.RefreshErrors != 1 || st.Invalidations != 2 {
		t.Errorf("Stats = %+v; want 3 refreshes, 1 error, 2 invalidations", st)
	}

	a3, _ := s.TokenContext(context.Background())
	allocs := testing.AllocsPerRun(1000, func() { s.Confirm(a3) })
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
// the first refresh's token never works, which backs off, so that the
// requests cost one token request instead of one each. Once the server is
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
	if n := r.requests(); n != 1 {
		t.Errorf("20 requests to a server that rejects every token cost %d token requests, want 1", n)
	}
	// The stored token and the refreshed one were each rejected once, by
	// the first request and its retry, and the refreshed one once more, by
	// the second request; from then on, the requests fail in the backoff.
	if n := rs.rejected.Load(); n != 3 {
		t.Errorf("the server rejected %d requests, want 3", n)
	}

	rs.fixed.Store(true)
	r.clock.Advance(backoffMin)
	for i := range 5 {
		if status, err := get(); err != nil || status != http.StatusOK {
			t.Fatalf("request %d after the fix: %d, %v", i, status, err)
		}
	}
	if n := r.requests(); n != 2 {
		t.Errorf("%d token requests, want 2", n)
	}
	if st := r.src.Stats(); st.Refreshes != 2 || st.RefreshErrors != 1 {
		t.Errorf("Stats = %+v; want 2 refreshes, 1 error", st)
	}
}

// TestTransportRecoversRevokedWorkingTokens revokes the current
// token every 0.7s while requests with it succeed: each revocation costs
// one refresh, and no request fails, however young the token was.
func TestTransportRecoversRevokedWorkingTokens(t *testing.T) {
	const rounds, callers = 10, 4
	r := newServerRig(t, nil)
	c := NewClient(context.Background(), r.src)
	var failed atomic.Int64
	requests := func() {
		var wg sync.WaitGroup
		for range callers {
			wg.Go(func() {
				for range 3 {
					resp, err := c.Get(r.srv.ResourceURL())
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
	}
	requests()
	for range rounds {
		r.clock.Advance(700 * time.Millisecond)
		tok, err := r.src.TokenContext(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		r.srv.RevokeAccessToken(tok.AccessToken)
		requests()
	}
	if n := failed.Load(); n != 0 {
		t.Errorf("%d requests failed", n)
	}
	if st := r.src.Stats(); st.Refreshes != rounds || st.RefreshErrors != 0 || st.Invalidations != rounds {
		t.Errorf("Stats = %+v; want %d refreshes and invalidations, no error", st, rounds)
	}
}
