package tokensource

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// wantEndpointError fails t unless err carries the token endpoint's error
// answer with the given status and error code, both as an *EndpointError
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
				t.Fatalf("err = %v: an EndpointError for a request that got no answer", err)
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
			good := readFile(t, r.path)
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
			if got := readFile(t, r.path); string(got) != string(good) {
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

// TestRetryAfterNeverShortensBackoff answers every refresh with a 503 whose
// Retry-After asks for no wait at all, or cannot be read: the Source must
// still back off, or callers that keep asking would send a request each,
// one after the other, as fast as the endpoint answers.
func TestRetryAfterNeverShortensBackoff(t *testing.T) {
	const callers, calls = 50, 20
	for _, retryAfter := range []string{
		"0",
		"-5",
		"Fri, 03 Feb 2023 04:05:06 GMT", // long past on the test clock
		"not a number",
	} {
		t.Run(retryAfter, func(t *testing.T) {
			var requests atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", retryAfter)
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, `{"error":"temporarily_unavailable"}`)
			}))
			defer srv.Close()
			clock := newTestClock()
			conf := &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInHeader}}
			expired := &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)}
			src := FromConfig(context.Background(), conf, storeWith(t, expired), &Options{Now: clock.Now})

			_, errs := callMany(src, callers, calls)
			for _, err := range errs {
				wantEndpointError(t, err, 503, "temporarily_unavailable")
			}
			if n := requests.Load(); n != 1 {
				t.Errorf("%d calls at one instant sent %d token requests, want 1", callers*calls, n)
			}
			clock.Advance(backoffMin/2 - time.Millisecond)
			callMany(src, callers, calls)
			if n := requests.Load(); n != 1 {
				t.Errorf("%d calls within the shortest first backoff sent %d token requests, want 1", callers*calls, n)
			}
		})
	}
}
