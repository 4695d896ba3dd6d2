package tokensource

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// TestHugeExpiresInIsNotExpiredAtOnce has the token endpoint respond with
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
// responses that carry tokens anyway. No message in the error's chain may
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

// TestEndpointErrorRedactsSecrets gives parseTokenResponse error responses
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
		{"the response's own tokens",
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

func TestParseTokenResponse(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		status                  int
		wantAccess              string
		wantExpiresIn           int64
		wantErr                 string
	}{
		{"json", "application/json", `{"access_token":"at","token_type":"Bearer","expires_in":60}`, 200, "at", 60, ""},
		{"expires_in as a string", "application/json", `{"access_token":"at","expires_in":"60"}`, 200, "at", 60, ""},
		{"form encoded", "application/x-www-form-urlencoded", `access_token=at&expires_in=60`, 200, "at", 60, ""},
		{"negative expires_in", "application/json", `{"access_token":"at","expires_in":-5}`, 200, "at", 0, ""},
		{"huge expires_in", "application/json", `{"access_token":"at","expires_in":1e30}`, 200, "at", math.MaxInt64, ""},
		{"huge expires_in as a string", "application/json", `{"access_token":"at","expires_in":"99999999999999999999"}`, 200, "at", math.MaxInt64, ""},
		{"error with 200", "application/json", `{"error":"invalid_grant","error_description":"gone"}`, 200, "", 0, "invalid_grant: gone"},
		{"error status", "application/json", `{"error":"invalid_client"}`, 401, "", 0, "401 Unauthorized: invalid_client"},
		{"error status without JSON", "text/html", `<h1>secret-at</h1>`, 502, "", 0, "502 Bad Gateway"},
		{"no access token", "application/json", `{"refresh_token":"secret-rt"}`, 200, "", 0, "without an access_token"},
		{"not JSON", "application/json", `{"access_token":"secret-at"`, 200, "", 0, "cannot be parsed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Status: itoa(int64(tt.status)) + " " + http.StatusText(tt.status), Header: http.Header{"Content-Type": {tt.contentType}}}
			tok, err := parseTokenResponse(resp, []byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q quotes the body", err)
				}
				return
			}
			if err != nil || tok.AccessToken != tt.wantAccess || tok.ExpiresIn != tt.wantExpiresIn {
				t.Fatalf("got %+v, %v; want access %q, expires_in %d", tok, err, tt.wantAccess, tt.wantExpiresIn)
			}
		})
	}
}

// parseExpiresIn parses a 200 token response with an access token and
// expiresIn, a JSON value or, for a form-encoded body, an encoded one.
func parseExpiresIn(contentType, expiresIn string) (*oauth2.Token, error) {
	body := `{"access_token":"at","expires_in":` + expiresIn + `}`
	if contentType != "application/json" {
		body = "access_token=at&expires_in=" + expiresIn
	}
	resp := &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{"Content-Type": {contentType}}}
	return parseTokenResponse(resp, []byte(body))
}

// TestExpiresInTrimmedAndIntegralDecimal reads expires_in values that
// mean a whole number of seconds though they are not written as one.
func TestExpiresInTrimmedAndIntegralDecimal(t *testing.T) {
	for _, tt := range []struct {
		contentType, expiresIn string
		want                   int64
	}{
		{"application/json", `"3600.0"`, 3600},
		{"application/json", `" 3600"`, 3600},
		{"application/json", `"3600 "`, 3600},
		{"application/json", `"\t3600.000\n"`, 3600},
		{"application/json", `"+3600"`, 3600},
		{"application/json", `3600.0`, 3600},
		{"application/json", `36e2`, 3600},
		{"application/json", `"-60.0"`, 0},
		{"application/json", `""`, 0},
		{"application/json", `null`, 0},
		{"application/x-www-form-urlencoded", "3600.0", 3600},
		{"application/x-www-form-urlencoded", "%203600", 3600},
	} {
		tok, err := parseExpiresIn(tt.contentType, tt.expiresIn)
		if err != nil || tok.ExpiresIn != tt.want {
			t.Errorf("%s expires_in %s: got %v, %v; want expires_in %d", tt.contentType, tt.expiresIn, tok, err, tt.want)
		}
	}
}

// TestExpiresInNotAWholeNumberIsAnError gives expires_in values that are
// no whole number of seconds: the response is malformed, and the error
// does not quote the value.
func TestExpiresInNotAWholeNumberIsAnError(t *testing.T) {
	for _, tt := range []struct{ contentType, expiresIn string }{
		{"application/json", `"3600.5"`},
		{"application/json", `3599.9`},
		{"application/json", `"3600."`},
		{"application/json", `".0"`},
		{"application/json", `"36e2"`},
		{"application/json", `"secret-soon"`},
		{"application/json", `"36 00"`},
		{"application/json", `true`},
		{"application/json", `{"s":3600}`},
		{"application/json", `["3600"]`},
		{"application/x-www-form-urlencoded", "secret-soon"},
	} {
		tok, err := parseExpiresIn(tt.contentType, tt.expiresIn)
		if err == nil || !strings.Contains(err.Error(), "expires_in that is not a whole number") {
			t.Errorf("%s expires_in %s: got %v, %v; want an error about expires_in", tt.contentType, tt.expiresIn, tok, err)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("error %q quotes the value", err)
		}
	}
}
