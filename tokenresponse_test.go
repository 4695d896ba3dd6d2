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

	"github.com/google/go-cmp/cmp"
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

// TestEndpointErrorRedactsSecrets gives parseTokenResponse error answers
// that echo the secrets of the request and carry tokens of their own. Each
// is replaced whole, as sent or URL-encoded; a standard error code stays as
// it is, so that invalid_grant still means re-authentication.
func TestEndpointErrorRedactsSecrets(t *testing.T) {
	for _, tc := range []struct {
		name, body      string
		secrets         []string
		code, desc, uri string
	}{
		{"each field",
			`{"error":"bad_rt1","error_description":"rt1 at1 c/s+1","error_uri":"https://as.example/?s=c%2Fs%2B1"}`,
			[]string{"rt1", "at1", "c/s+1"},
			"bad_[redacted]", "[redacted] [redacted] [redacted]", "https://as.example/?s=[redacted]"},
		{"a secret inside another",
			`{"error":"invalid_request","error_description":"token rt-long, not rt"}`,
			[]string{"rt", "rt-long"},
			"invalid_request", "token [redacted], not [redacted]", ""},
		{"a standard code",
			`{"error":"invalid_grant","error_description":"grant revoked"}`,
			[]string{"grant"},
			"invalid_grant", "[redacted] revoked", ""},
		{"the answer's own tokens",
			`{"error":"server_error","error_description":"issued at9 and rt9","access_token":"at9","refresh_token":"rt9"}`,
			nil,
			"server_error", "issued [redacted] and [redacted]", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: 400, Status: "400 Bad Request", Header: http.Header{"Content-Type": {"application/json"}}}
			_, err := parseTokenResponse(resp, []byte(tc.body), tc.secrets...)
			var ee *EndpointError
			if !errors.As(err, &ee) {
				t.Fatalf("err = %v, want an *EndpointError", err)
			}
			got := []string{ee.ErrorCode, ee.ErrorDescription, ee.ErrorURI}
			if diff := cmp.Diff([]string{tc.code, tc.desc, tc.uri}, got); diff != "" {
				t.Errorf("code, description and URI (-want +got):\n%s", diff)
			}
			if tc.code == "invalid_grant" && !errors.Is(classify(err), ErrReauthRequired) {
				t.Errorf("invalid_grant no longer means ErrReauthRequired: %v", err)
			}
		})
	}
}
