package tokensource

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestHugeExpiresInIsNotExpiredAtOnce has the token endpoint answer with
// an expires_in of about 317 years, more than a time.Duration holds. The
// token must still count as valid, not be refreshed on every call.
func TestHugeExpiresInIsNotExpiredAtOnce(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"access_token":"a1","refresh_token":"r1","expires_in":9999999999}`)
	}))
	defer srv.Close()
	clock := newTestClock()
	conf := &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInHeader}}
	expired := &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)}
	src := FromConfig(context.Background(), conf, storeWith(t, expired), &Options{Now: clock.Now})
	first := mustToken(t, src, "a1")
	for range 5 {
		if tok := mustToken(t, src, "a1"); !sameToken(tok, first) {
			t.Fatal("the token was refreshed again")
		}
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
	if !first.Expiry.After(clock.Now()) {
		t.Errorf("Expiry = %v, in the past", first.Expiry)
	}
}

// TestEndpointErrorWrapsNoTokenInItsBody gives parseTokenResponse error
// answers that carry tokens anyway. No message in the error's chain may
// show them: code that finds the *oauth2.RetrieveError with errors.As and
// logs it must not log a token.
func TestEndpointErrorWrapsNoTokenInItsBody(t *testing.T) {
	for _, tc := range []struct {
		status int
		body   string
	}{
		{400, `{"error":"invalid_request","access_token":"secret-at","refresh_token":"secret-rt"}`},
		{200, `{"error":"server_error","access_token":"secret-at","refresh_token":"secret-rt"}`},
		{500, `{"access_token":"secret-at","refresh_token":"secret-rt"}`},
		{502, "access_token=secret-at&refresh_token=secret-rt"},
	} {
		resp := &http.Response{
			StatusCode: tc.status,
			Status:     http.StatusText(tc.status),
			Header:     http.Header{"Content-Type": {"application/json"}},
		}
		_, err := parseTokenResponse(resp, []byte(tc.body))
		for _, msg := range errorChain(err) {
			if strings.Contains(msg, "secret-") {
				t.Errorf("%d %s: an error in the chain shows a token: %s", tc.status, tc.body, msg)
			}
		}
	}
}
