package tokensource

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource/tokensourcetest"
)

// newServer starts a tokensourcetest server on clock, closed with the test.
func newServer(t *testing.T, clock *tokensourcetest.Clock, opts *tokensourcetest.Options) *tokensourcetest.Server {
	t.Helper()
	if opts == nil {
		opts = &tokensourcetest.Options{}
	}
	opts.Now = clock.Now
	srv := tokensourcetest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv
}

// loggedIn returns a FromConfig Source on clock whose store holds a first
// token pair from srv, already loaded, and that token.
func loggedIn(t *testing.T, srv *tokensourcetest.Server, clock *tokensourcetest.Clock) (*Source, *MemoryStore, *oauth2.Token) {
	t.Helper()
	login := srv.Login()
	st := storeWith(t, login)
	s := FromConfig(context.Background(), srv.Config(), st, &Options{Now: clock.Now})
	mustToken(t, s, login.AccessToken)
	return s, st, login
}

func TestFromConfigRefreshesAndSavesRotatedToken(t *testing.T) {
	clock := newTestClock()
	srv := newServer(t, clock, nil)
	s, st, login := loggedIn(t, srv, clock)
	clock.Advance(time.Hour)
	tok, err := s.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == login.AccessToken || tok.RefreshToken == login.RefreshToken {
		t.Fatal("the refresh did not rotate the token")
	}
	if want := clock.Now().Add(time.Hour); !tok.Expiry.Equal(want) {
		t.Errorf("Expiry = %v, want %v", tok.Expiry, want)
	}
	if stored, _ := st.Load(context.Background()); !sameToken(stored, tok) {
		t.Errorf("the store does not hold the rotated token")
	}
	if got := srv.Stats(); got.TokenRequests != 1 || got.Refreshes != 1 {
		t.Errorf("server Stats = %+v; want 1 request, 1 refresh", got)
	}
}

func TestFromConfigEmptyStoreNeedsLogin(t *testing.T) {
	clock := newTestClock()
	srv := newServer(t, clock, nil)
	st := NewMemoryStore()
	s := FromConfig(context.Background(), srv.Config(), st, &Options{Now: clock.Now})

	wantReauthWithoutRequests(t, s, srv, clock, 0)

	// The user logs in (here or in another process): the Source uses it.
	login := srv.Login()
	st.Save(context.Background(), login)
	mustToken(t, s, login.AccessToken)
}

func TestFromConfigInvalidGrantNeedsLogin(t *testing.T) {
	clock := newTestClock()
	srv := newServer(t, clock, nil)
	s, st, login := loggedIn(t, srv, clock)

	srv.RevokeFamily(login.RefreshToken)
	clock.Advance(time.Hour)
	_, err := s.Token()
	if !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("err = %v, want ErrReauthRequired", err)
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("err = %v, want an oauth2.RetrieveError with invalid_grant", err)
	}

	wantReauthWithoutRequests(t, s, srv, clock, 1)

	// A new login in the store ends it, without a token request.
	again := srv.Login()
	st.Save(context.Background(), again)
	mustToken(t, s, again.AccessToken)
	if n := srv.Stats().TokenRequests; n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// wantReauthWithoutRequests checks that s keeps returning
// ErrReauthRequired, to Token calls however late and to a forced Refresh,
// and that srv got no token requests beyond the want it had in all.
func wantReauthWithoutRequests(t *testing.T, s *Source, srv *tokensourcetest.Server, clock *tokensourcetest.Clock, want int64) {
	t.Helper()
	for range 10 {
		clock.Advance(time.Hour)
		if _, err := s.Token(); !errors.Is(err, ErrReauthRequired) {
			t.Fatalf("err = %v, want ErrReauthRequired", err)
		}
	}
	if _, err := s.Refresh(context.Background()); !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("forced Refresh: err = %v, want ErrReauthRequired", err)
	}
	if n := srv.Stats().TokenRequests; n != want {
		t.Fatalf("%d token requests, want %d", n, want)
	}
}

// recordingTransport records the requests it forwards.
type recordingTransport struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func TestFromConfigAuthStyleAndContextClient(t *testing.T) {
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		clock := newTestClock()
		srv := newServer(t, clock, nil)
		conf := srv.Config()
		conf.Endpoint.AuthStyle = style
		rec := &recordingTransport{}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: rec})
		s := FromConfig(ctx, conf, storeWith(t, srv.Login()), &Options{Now: clock.Now})
		clock.Advance(time.Hour)
		if _, err := s.Token(); err != nil {
			t.Fatalf("style %v: %v", style, err)
		}
		if len(rec.reqs) != 1 {
			t.Fatalf("style %v: %d requests through the context's client, want 1", style, len(rec.reqs))
		}
		_, _, basic := rec.reqs[0].BasicAuth()
		if basic != (style == oauth2.AuthStyleInHeader) {
			t.Errorf("style %v: Basic auth sent = %v", style, basic)
		}
	}
}

// basicRefusingEndpoint refuses Basic client authentication with
// invalid_client and accepts the credentials in the form.
func basicRefusingEndpoint(t *testing.T, requests *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if _, _, ok := r.BasicAuth(); ok || r.FormValue("client_secret") != "s" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		w.Write([]byte(`{"access_token":"new","token_type":"Bearer","expires_in":3600}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFromConfigAutoDetectRetriesOnlyRefusedClient(t *testing.T) {
	clock := newTestClock()
	var requests atomic.Int64
	ep := basicRefusingEndpoint(t, &requests)
	conf := &oauth2.Config{ClientID: "c", ClientSecret: "s", Endpoint: oauth2.Endpoint{TokenURL: ep.URL}}
	st := storeWith(t, &oauth2.Token{AccessToken: "old", RefreshToken: "r", Expiry: clock.Now().Add(-time.Hour)})
	s := FromConfig(context.Background(), conf, st, &Options{Now: clock.Now})

	mustToken(t, s, "new")
	if n := requests.Load(); n != 2 {
		t.Fatalf("first refresh: %d requests, want 2 (Basic refused, then form)", n)
	}
	clock.Advance(time.Hour)
	mustToken(t, s, "new")
	if n := requests.Load(); n != 3 {
		t.Fatalf("second refresh: %d requests in all, want 3 (the form style is kept)", n)
	}
}

func TestFromConfigNeverResendsAfterLostResponse(t *testing.T) {
	clock := newTestClock()
	srv := newServer(t, clock, nil)
	conf := srv.Config()
	conf.Endpoint.AuthStyle = oauth2.AuthStyleAutoDetect
	login := srv.Login()

	// x/oauth2, auto-detecting, sends the refresh token a second time when
	// the first response is lost: with rotation, that is a replay, and the
	// server revokes the family.
	srv.FailNext(1, tokensourcetest.FaultLoseResponse)
	expired := *login
	expired.Expiry = clock.Now().Add(-time.Hour)
	if _, err := conf.TokenSource(context.Background(), &expired).Token(); err == nil {
		t.Fatal("x/oauth2 refresh succeeded after a lost response")
	}
	if got := srv.Stats(); got.TokenRequests != 2 || got.ReuseDetected != 1 {
		t.Fatalf("x/oauth2: server Stats = %+v; want 2 requests, 1 reuse", got)
	}

	// FromConfig sends one request and reports the lost response.
	login = srv.Login()
	srv.FailNext(1, tokensourcetest.FaultLoseResponse)
	before := srv.Stats().TokenRequests
	s := FromConfig(context.Background(), conf, storeWith(t, login), &Options{Now: clock.Now})
	clock.Advance(time.Hour)
	if _, err := s.Token(); err == nil {
		t.Fatal("refresh succeeded after a lost response")
	}
	if got := srv.Stats(); got.TokenRequests-before != 1 || got.ReuseDetected != 1 {
		t.Errorf("server Stats = %+v; want 1 more request, no more reuse", got)
	}
}

func TestFromConfigNilStorePanics(t *testing.T) {
	defer func() {
		const want = "tokensource: FromConfig with a nil Store"
		if r, _ := recover().(string); !strings.HasPrefix(r, want) {
			t.Errorf("panic %q, want one starting %q", r, want)
		}
	}()
	FromConfig(context.Background(), &oauth2.Config{}, nil, nil)
}

// TestLostRefreshResponse pins what happens when the response to a refresh
// is lost with refresh-token rotation on: the server rotated the token, but
// the Source never saw the new one. This is inherent to rotation: the only
// refresh token the Source has is the one it just spent.
//
// The refresh fails with a transport error and the Source backs off, after
// exactly one request (no silent resend). The next refresh, after the
// backoff, presents the spent refresh token: a server with reuse detection
// takes it for a replay, revokes the family and responds invalid_grant, and
// from then on the Source asks for a new login (ErrReauthRequired) without
// sending another request. A server that allows a reuse grace window longer
// than the backoff takes the second refresh normally instead.
func TestLostRefreshResponse(t *testing.T) {
	t.Run("reuse detected", func(t *testing.T) {
		r := newServerRig(t, nil)
		good := readToken(t, r.path)
		r.expire()
		r.srv.FailNext(1, tokensourcetest.FaultLoseResponse)

		_, err := r.src.Token()
		if err == nil || errors.Is(err, ErrReauthRequired) {
			t.Fatalf("after a lost response: err = %v, want a transport error", err)
		}
		wantMessage(t, err, "requesting a token: tokensource: no response from the token endpoint")
		if st := r.srv.Stats(); st.TokenRequests != 1 || st.Refreshes != 1 {
			t.Fatalf("server stats %+v; want 1 request, which rotated the token", st)
		}

		r.clock.Advance(backoffMin + time.Millisecond)
		_, err = r.src.Token()
		if !errors.Is(err, ErrReauthRequired) {
			t.Fatalf("refresh after the backoff: err = %v, want ErrReauthRequired", err)
		}
		wantEndpointError(t, err, 400, "invalid_grant")
		if st := r.srv.Stats(); st.TokenRequests != 2 || st.ReuseDetected != 1 {
			t.Fatalf("server stats %+v; want 2 requests, 1 reuse detected", st)
		}

		r.clock.Advance(24 * time.Hour)
		_, errs := callMany(r.src, 50, 20)
		for _, err := range errs {
			if !errors.Is(err, ErrReauthRequired) {
				t.Fatalf("a day later: err = %v, want ErrReauthRequired", err)
			}
		}
		if n := r.requests(); n != 2 {
			t.Fatalf("a day later: %d token requests, want still 2", n)
		}
		if got := readToken(t, r.path); got != good {
			t.Fatalf("the token file changed:\n%s", got)
		}
	})

	t.Run("reuse grace", func(t *testing.T) {
		clock := tokensourcetest.NewClock(rigStart)
		srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now, ReuseGrace: 10 * time.Second})
		defer srv.Close()
		store := NewFileStore(filepath.Join(t.TempDir(), "token.json"))
		mustSave(t, store, srv.Login())
		src := FromConfig(context.Background(), srv.Config(), store, &Options{Now: clock.Now})
		clock.Advance(tokensourcetest.DefaultAccessTokenLifetime + time.Second)
		srv.FailNext(1, tokensourcetest.FaultLoseResponse)

		if _, err := src.Token(); err == nil {
			t.Fatal("after a lost response: no error")
		}
		clock.Advance(backoffMin + time.Millisecond)
		tok, err := src.Token()
		if err != nil {
			t.Fatalf("refresh within the grace window: %v", err)
		}
		if got := mustLoad(t, store); !sameToken(got, tok) {
			t.Errorf("the token file holds %q, not the new token %q", got.AccessToken, tok.AccessToken)
		}
		if st := srv.Stats(); st.TokenRequests != 2 || st.Refreshes != 2 || st.ReuseDetected != 0 {
			t.Errorf("server stats %+v; want 2 requests, 2 refreshes, no reuse", st)
		}
	})
}

// wantEndpointError fails t unless err carries the token endpoint's error
// response with the given status and error code, both as an *EndpointError
// and as the *oauth2.RetrieveError that code written for x/oauth2 looks for,
// and says both in its message.
func wantEndpointError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var ee *EndpointError
	var re *oauth2.RetrieveError
	if !errors.As(err, &ee) || !errors.As(err, &re) {
		t.Fatalf("err = %v (%T), want an *EndpointError", err, err)
	}
	if re.Response == nil || re.Response.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("err = %v, want status %d, error code %q", err, status, code)
	}
	if msg := err.Error(); !strings.Contains(msg, http.StatusText(status)) || !strings.Contains(msg, code) {
		t.Errorf("error %q does not say %d %s and %s", msg, status, http.StatusText(status), code)
	}
}

// wantMessage fails t unless err's message contains want.
func wantMessage(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want an error saying %q", err, want)
	}
}

// TestTokenEndpointFaults refreshes through a token endpoint that fails in
// each way tokensourcetest can make it fail, while many callers keep
// asking for a token, and checks what they get, that the token file keeps
// the good token, and how many requests reach the endpoint: one per
// refresh, none during the backoff that follows a failure, none at all
// after invalid_grant, and one (shared by every caller) once the backoff
// has passed.
func TestTokenEndpointFaults(t *testing.T) {
	const callers, calls = 50, 20
	tests := []struct {
		name       string
		fault      tokensourcetest.Fault
		faults     int           // how many requests meet the fault
		autoDetect bool          // AuthStyleAutoDetect instead of the server's explicit style
		requests   int64         // requests the failed refresh sends
		quiet      time.Duration // no request before this much clock time after the failure; 0 means never
		retry      time.Duration // and the next one at this time
		check      func(*testing.T, error)
	}{{
		name: "500", fault: tokensourcetest.FaultServerError, faults: 1, requests: 1,
		quiet: backoffMin / 2, retry: backoffMin,
		check: func(t *testing.T, err error) { wantEndpointError(t, err, 500, "server_error") },
	}, {
		name: "503 Retry-After", fault: tokensourcetest.FaultUnavailable, faults: 1, requests: 1,
		quiet: 2 * time.Second, retry: 2 * time.Second,
		check: func(t *testing.T, err error) { wantEndpointError(t, err, 503, "temporarily_unavailable") },
	}, {
		name: "429 Retry-After", fault: tokensourcetest.FaultTooManyRequests, faults: 1, requests: 1,
		quiet: 2 * time.Second, retry: 2 * time.Second,
		check: func(t *testing.T, err error) { wantEndpointError(t, err, 429, "temporarily_unavailable") },
	}, {
		name: "malformed JSON", fault: tokensourcetest.FaultMalformedJSON, faults: 1, requests: 1,
		quiet: backoffMin / 2, retry: backoffMin,
		check: func(t *testing.T, err error) {
			wantMessage(t, err, "requesting a token: tokensource: token endpoint responded 200 OK with a body that cannot be parsed")
		},
	}, {
		name: "200 without access_token", fault: tokensourcetest.FaultMissingAccessToken, faults: 1, requests: 1,
		quiet: backoffMin / 2, retry: backoffMin,
		check: func(t *testing.T, err error) {
			wantMessage(t, err, "requesting a token: tokensource: token endpoint responded 200 OK without an access_token")
		},
	}, {
		name: "hang past RefreshTimeout", fault: tokensourcetest.FaultHang, faults: 1, requests: 1,
		quiet: backoffMin / 2, retry: backoffMin,
		check: func(t *testing.T, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("err = %v, want context.DeadlineExceeded", err)
			}
			wantMessage(t, err, "requesting a token: tokensource: no response from the token endpoint")
		},
	}, {
		name: "reset connection", fault: tokensourcetest.FaultResetConnection, faults: 1, requests: 1,
		quiet: backoffMin / 2, retry: backoffMin,
		check: func(t *testing.T, err error) {
			var ee *EndpointError
			if errors.As(err, &ee) {
				t.Fatalf("err = %v: an EndpointError for a request that got no response", err)
			}
			wantMessage(t, err, "requesting a token: tokensource: no response from the token endpoint")
		},
	}, {
		name: "invalid_grant", fault: tokensourcetest.FaultInvalidGrant, faults: 1, requests: 1,
		check: func(t *testing.T, err error) {
			if !errors.Is(err, ErrReauthRequired) {
				t.Fatalf("err = %v, want ErrReauthRequired", err)
			}
			wantEndpointError(t, err, 400, "invalid_grant")
		},
	}, {
		name: "invalid_client", fault: tokensourcetest.FaultInvalidClient, faults: 1, requests: 1,
		quiet: backoffMin / 2, retry: backoffMin,
		check: func(t *testing.T, err error) {
			if errors.Is(err, ErrReauthRequired) {
				t.Fatalf("err = %v: invalid_client is not the user's to fix", err)
			}
			wantEndpointError(t, err, 401, "invalid_client")
		},
	}, {
		// Auto-detection tries the form once after the Basic header was
		// refused; that second request meets the fault too.
		name: "invalid_client auto-detect", fault: tokensourcetest.FaultInvalidClient, faults: 2, autoDetect: true, requests: 2,
		quiet: backoffMin / 2, retry: backoffMin,
		check: func(t *testing.T, err error) { wantEndpointError(t, err, 401, "invalid_client") },
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := &Options{RefreshTimeout: 10 * time.Second}
			if tc.fault == tokensourcetest.FaultHang {
				// Long enough for the retry, which must succeed, to load,
				// lock, refresh and save on a loaded machine.
				opts.RefreshTimeout = time.Second
			}
			r := newServerRig(t, opts)
			if tc.autoDetect {
				conf := r.srv.Config()
				conf.Endpoint.AuthStyle = oauth2.AuthStyleAutoDetect
				r.src = r.newSource(conf)
			}
			good := readToken(t, r.path)
			r.expire()
			r.srv.FailNext(tc.faults, tc.fault)

			// Every caller fails, in the refresh or in the backoff after it,
			// and the endpoint sees only the one refresh.
			start := time.Now()
			toks, errs := callMany(r.src, callers, calls)
			for i, err := range errs {
				if err == nil {
					t.Fatalf("call %d got access token %q and no error", i, toks[i].AccessToken)
				}
				tc.check(t, err)
			}
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("%d calls took %v", callers*calls, elapsed)
			}
			if n := r.requests(); n != tc.requests {
				t.Fatalf("%d calls sent %d token requests, want %d", callers*calls, n, tc.requests)
			}
			if got := readToken(t, r.path); got != good {
				t.Fatalf("the token file changed after a failed refresh:\n%s", got)
			}

			if tc.quiet == 0 {
				// Not retried, however long callers keep asking...
				r.clock.Advance(24 * time.Hour)
				_, errs := callMany(r.src, callers, calls)
				for _, err := range errs {
					tc.check(t, err)
				}
				if n := r.requests(); n != tc.requests {
					t.Fatalf("a day later: %d token requests, want %d", n, tc.requests)
				}
				// ...until the user logs in again, perhaps in another
				// process: the new token is used without a request.
				login := r.srv.Login()
				mustSave(t, r.store, login)
				mustToken(t, r.src, login.AccessToken)
				if n := r.requests(); n != tc.requests {
					t.Fatalf("after a new login: %d token requests, want %d", n, tc.requests)
				}
				return
			}

			r.clock.Advance(tc.quiet - time.Millisecond)
			_, errs = callMany(r.src, callers, calls)
			for _, err := range errs {
				var be *BackoffError
				if !errors.As(err, &be) {
					t.Fatalf("during the backoff: err = %v, want a BackoffError", err)
				}
				tc.check(t, err)
			}
			if n := r.requests(); n != tc.requests {
				t.Fatalf("during the backoff: %d token requests, want %d", n, tc.requests)
			}

			r.clock.Advance(tc.retry - tc.quiet + 2*time.Millisecond)
			toks, errs = callMany(r.src, callers, calls)
			for i, err := range errs {
				if err != nil || toks[i] != toks[0] {
					t.Fatalf("after the backoff, call %d: %v, %v; want the one new token", i, toks[i], err)
				}
			}
			if n := r.requests(); n != tc.requests+1 {
				t.Fatalf("after the backoff: %d token requests, want %d", n, tc.requests+1)
			}
			if got := mustLoad(t, r.store); !sameToken(got, toks[0]) {
				t.Fatalf("the token file holds %v, not the new token", got)
			}
		})
	}
}
