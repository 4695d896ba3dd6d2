package tokensource

import (
	"context"
	"errors"
	"io"
	"log/slog"
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
		_, err := parseTokenResponse(context.Background(), nil, resp, []byte(tc.body))
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
			`{"error":"bad_rt1-long","error_description":"rt1-long at1-long c/s+1-long","error_uri":"https://as.example/?s=c%2Fs%2B1-long"}`,
			[]string{"rt1-long", "at1-long", "c/s+1-long"},
			"bad_[redacted]", "[redacted] [redacted] [redacted]", "https://as.example/?s=[redacted]"},
		{"a secret inside another",
			`{"error":"invalid_request","error_description":"token rt-long-longer, not rt-long-"}`,
			[]string{"rt-long-", "rt-long-longer"},
			"invalid_request", "token [redacted], not [redacted]", ""},
		{"a standard code",
			`{"error":"invalid_grant","error_description":"invalid_grant revoked"}`,
			[]string{"invalid_grant"},
			"invalid_grant", "[redacted] revoked", ""},
		{"the response's own tokens",
			`{"error":"server_error","error_description":"issued at9-long and rt9-long","access_token":"at9-long","refresh_token":"rt9-long"}`,
			nil,
			"server_error", "issued [redacted] and [redacted]", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: 400, Status: "400 Bad Request", Header: http.Header{"Content-Type": {"application/json"}}}
			_, err := parseTokenResponse(context.Background(), nil, resp, []byte(tc.body), tc.secrets...)
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
			tok, err := parseTokenResponse(context.Background(), nil, resp, []byte(tt.body))
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
	return parseTokenResponse(context.Background(), nil, resp, []byte(body))
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

// TestExpiresInWithAFractionIsFloored: a fraction of a second is no
// reason to refuse a token, and rounding up would outlive the token.
func TestExpiresInWithAFractionIsFloored(t *testing.T) {
	for _, tt := range []struct {
		contentType, expiresIn string
		want                   int64
	}{
		{"application/json", `3599.9`, 3599},
		{"application/json", `"3600.5"`, 3600},
		{"application/json", `"3600."`, 3600},
		{"application/json", `".0"`, 0},
		{"application/json", `0.4`, 0},
		{"application/json", `"36e2"`, 3600},
		{"application/x-www-form-urlencoded", "59.999", 59},
	} {
		tok, err := parseExpiresIn(tt.contentType, tt.expiresIn)
		if err != nil || tok.ExpiresIn != tt.want {
			t.Errorf("%s expires_in %s: got %v, %v; want expires_in %d", tt.contentType, tt.expiresIn, tok, err, tt.want)
		}
	}
}

// TestUnusableOptionalFieldIsIgnoredAndLogged gives 200 responses with an
// access token, a new refresh token, and an optional field that cannot be
// used. The token is kept, refresh token included, without the field; a
// log line names the field and does not quote its value.
func TestUnusableOptionalFieldIsIgnoredAndLogged(t *testing.T) {
	for _, tc := range []struct {
		contentType, field, value string
	}{
		{"application/json", "expires_in", `"secret-soon"`},
		{"application/json", "expires_in", `"36 00"`},
		{"application/json", "expires_in", `"Inf"`},
		{"application/json", "expires_in", `true`},
		{"application/json", "expires_in", `{"s":3600}`},
		{"application/json", "expires_in", `["3600"]`},
		{"application/json", "scope", `["read","secret-scope"]`},
		{"application/json", "scope", `7`},
		{"application/json", "token_type", `{"secret":1}`},
		{"application/x-www-form-urlencoded", "expires_in", "secret-soon"},
	} {
		body := `{"access_token":"at","refresh_token":"rt2","` + tc.field + `":` + tc.value + `}`
		if tc.contentType != "application/json" {
			body = "access_token=at&refresh_token=rt2&" + tc.field + "=" + tc.value
		}
		var buf strings.Builder
		log := slog.New(slog.NewTextHandler(&buf, nil))
		resp := &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{"Content-Type": {tc.contentType}}}
		tok, err := parseTokenResponse(context.Background(), log, resp, []byte(body))
		if err != nil || tok.AccessToken != "at" || tok.RefreshToken != "rt2" || tok.ExpiresIn != 0 || tok.Extra(tc.field) != nil {
			t.Errorf("%s %s %s: got %+v, %v; want at, rt2, no expires_in, no %s", tc.contentType, tc.field, tc.value, tok, err, tc.field)
			continue
		}
		if out := buf.String(); !strings.Contains(out, "unusable field") || !strings.Contains(out, "field="+tc.field) || strings.Contains(out, "secret") {
			t.Errorf("%s %s %s: log %q; want one line naming the field, without its value", tc.contentType, tc.field, tc.value, out)
		}
	}
	// Without a logger, the field is dropped all the same.
	resp := &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{"Content-Type": {"application/json"}}}
	if tok, err := parseTokenResponse(context.Background(), nil, resp, []byte(`{"access_token":"at","expires_in":"soon"}`)); err != nil || tok.ExpiresIn != 0 {
		t.Errorf("without a logger: got %v, %v", tok, err)
	}
}

// TestFractionalExpiresInKeepsTheRotatedRefreshToken: a server that rotates
// refresh tokens and sends expires_in 3599.9. The new refresh token is
// used, and saved; the spent one is never sent again.
func TestFractionalExpiresInKeepsTheRotatedRefreshToken(t *testing.T) {
	clock := newTestClock()
	var sent []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		sent = append(sent, r.PostForm.Get("refresh_token"))
		w.Header().Set("Content-Type", "application/json")
		n := len(sent)
		io.WriteString(w, `{"access_token":"a`+itoa(int64(n))+`","refresh_token":"r`+itoa(int64(n))+`","expires_in":3599.9}`)
	}))
	defer srv.Close()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	conf := &oauth2.Config{ClientID: "c", Endpoint: oauth2.Endpoint{TokenURL: srv.URL, AuthStyle: oauth2.AuthStyleInParams}}
	st := storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)})
	s := FromConfig(ctx, conf, st, &Options{Now: clock.Now, RefreshAhead: -1})

	first := mustToken(t, s, "a1")
	if want := clock.Now().Add(3599 * time.Second); !first.Expiry.Equal(want) {
		t.Errorf("Expiry = %v; want %v (3599 s)", first.Expiry, want)
	}
	clock.Advance(time.Hour)
	mustToken(t, s, "a2")
	if diff := cmp.Diff([]string{"r0", "r1"}, sent); diff != "" {
		t.Errorf("refresh tokens sent (-want +got):\n%s", diff)
	}
	if stored, err := st.Load(ctx); err != nil || stored.RefreshToken != "r2" {
		t.Errorf("store holds %v, %v; want refresh token r2", stored, err)
	}
}

// TestShortSecretsAreNotRedacted: a one-character client secret would
// turn every "s" of a message into [redacted]; secrets under minRedacted
// bytes are left alone, longer ones still redacted.
func TestShortSecretsAreNotRedacted(t *testing.T) {
	resp := &http.Response{StatusCode: 400, Status: "400 Bad Request", Header: http.Header{"Content-Type": {"application/json"}}}
	body := `{"error":"invalid_request","error_description":"secret s, short 1234567, long 12345678","error_uri":"https://e/x"}`
	_, err := parseTokenResponse(context.Background(), nil, resp, []byte(body), "s", "1234567", "12345678")
	var ee *EndpointError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want an *EndpointError", err)
	}
	if ee.ErrorURI != "https://e/x" || ee.ErrorDescription != "secret s, short 1234567, long [redacted]" {
		t.Errorf("description, URI = %q, %q; want the short secrets left, the long one redacted", ee.ErrorDescription, ee.ErrorURI)
	}
}
