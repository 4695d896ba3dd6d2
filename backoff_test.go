package tokensource

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	for n := 1; n <= 40; n++ {
		d := min(backoffMin<<min(n-1, 31), backoffMax)
		for range 20 {
			if got := backoff(n); got < d/2 || got > d {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, got, d/2, d)
			}
		}
	}
}

// TestBackoffErrorSaysTheTimeOfTheNextAttempt reads the error of a caller
// during the backoff a while after the failure: it gives the instant the
// next attempt may start, which stays true however late it is read.
func TestBackoffErrorSaysTheTimeOfTheNextAttempt(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: failing(errEndpoint)}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)}, nil)
	failedAt := clock.Now()
	if _, err := s.Token(); !errors.Is(err, errEndpoint) {
		t.Fatalf("err = %v, want the endpoint's", err)
	}
	clock.Advance(backoffMin / 4)
	_, err := s.Token()
	var be *BackoffError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want a BackoffError", err)
	}
	if be.RetryAt.Before(failedAt.Add(backoffMin/2)) || be.RetryAt.After(failedAt.Add(backoffMin)) {
		t.Errorf("RetryAt = %v, want within the first backoff after %v", be.RetryAt, failedAt)
	}
	want := "refresh failed, next attempt at " + be.RetryAt.UTC().Format("2006-01-02T15:04:05.000Z") + ": tokensource: requesting a token: endpoint down"
	if err.Error() != want {
		t.Errorf("err = %q\nwant  %q", err, want)
	}
}

func TestRetryAfterSetsBackoff(t *testing.T) {
	clock := newTestClock()
	limited := &oauth2.RetrieveError{Response: &http.Response{StatusCode: 429, Status: "429 Too Many Requests", Header: http.Header{"Retry-After": {"120"}}}}
	e := &fakeEndpoint{next: failing(limited)}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)}, nil)

	if _, err := s.Token(); !errors.Is(err, limited) {
		t.Fatalf("err = %v", err)
	}
	clock.Advance(119 * time.Second)
	var be *BackoffError
	if _, err := s.Token(); !errors.As(err, &be) || !be.RetryAt.Equal(clock.Now().Add(time.Second)) {
		t.Fatalf("at 119s: err = %v, want a BackoffError until 120s", err)
	}
	clock.Advance(time.Second)
	e.next = rotating(clock, time.Hour)
	mustToken(t, s, "a2")
}

// TestRetryAfterNeverShortensBackoff responds to every refresh with a 503 whose
// Retry-After asks for no wait at all, or cannot be read: the Source must
// still back off, or callers that keep asking would send a request each,
// one after the other, as fast as the endpoint responds.
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
