package tokensource

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestErrorsNameThePackageOnce pins how the errors of a refresh read: the
// innermost error of this project names its package, and each layer around
// it adds its context without a name; a layer around an error of another
// package names this one.
func TestErrorsNameThePackageOnce(t *testing.T) {
	corrupt := &corruptError{what: `token file "/x"`, err: errNoCredential}
	denied := &EndpointError{oauth2.RetrieveError{Response: &http.Response{Status: "400 Bad Request"}, ErrorCode: "invalid_grant"}}
	retryAt := time.Date(2026, 1, 2, 15, 4, 5, 123456789, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		err  error
		want string
	}{
		{stepError(stepLoad, errors.New("disk on fire")),
			"tokensource: loading the store: disk on fire"},
		{stepError(stepLoad, corrupt),
			`loading the store: tokensource: token file "/x" is corrupt: the token has neither an access_token nor a refresh_token`},
		{stepError(stepLoad, &StoreError{Op: "load", Where: `table "t" key "k"`, Err: errors.New("timeout")}),
			`loading the store: tokensource: load table "t" key "k": timeout`},
		{stepError(stepLoad, fmt.Errorf("mystore: %w", ErrNotFound)),
			"tokensource: loading the store: mystore: no token stored"},
		{stepError(stepRequest, classify(denied)),
			"requesting a token: re-authentication required: tokensource: token endpoint responded 400 Bad Request: invalid_grant"},
		{stepError(stepRequest, classify(&oauth2.RetrieveError{Response: &http.Response{Status: "400 Bad Request"}, ErrorCode: "invalid_grant"})),
			`requesting a token: tokensource: re-authentication required: oauth2: "invalid_grant"`},
		{stepError(stepRequest, fmt.Errorf("%w: no refresh token", ErrReauthRequired)),
			"requesting a token: tokensource: re-authentication required: no refresh token"},
		{&BackoffError{Err: stepError(stepLoad, corrupt), RetryAt: retryAt},
			`refresh failed, next attempt at 2026-01-02T14:04:05.123Z: loading the store: tokensource: token file "/x" is corrupt: the token has neither an access_token nor a refresh_token`},
		{&BackoffError{Err: errors.New("boom"), RetryAt: retryAt},
			"tokensource: refresh failed, next attempt at 2026-01-02T14:04:05.123Z: boom"},
		{&loginError{err: stepError(stepLogin, errors.New("denied")), retryAt: retryAt},
			"re-authentication required: the login failed; next login at 2026-01-02T14:04:05Z: tokensource: logging in: denied"},
		{&loginError{err: stepError(stepLogin, errors.New("denied"))},
			"re-authentication required: the login failed: tokensource: logging in: denied"},
		{&loginError{retryAt: retryAt},
			"tokensource: re-authentication required: a login failed in another process; next login at 2026-01-02T14:04:05Z"},
		{&stepPanic{step: stepRequest, value: "boom"},
			"tokensource: requesting a token panicked: boom"},
		{&stepPanic{step: stepRequest, value: ErrReauthRequired},
			"requesting a token panicked: tokensource: re-authentication required"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

func TestRetryAfterForms(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"5", 5 * time.Second, true},
		{now.Add(time.Minute).Format(http.TimeFormat), time.Minute, true},
		{"86400", retryAfterMax, true},
		{"9223372037", retryAfterMax, true},              // overflows a Duration in nanoseconds
		{"99999999999999999999999", retryAfterMax, true}, // overflows 64 bits
		{"-99999999999999999999999", 0, true},
		{"-9223372037", 0, true},
		{"-3", 0, true},
		{"soon", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		err := &oauth2.RetrieveError{Response: &http.Response{Header: http.Header{"Retry-After": {tt.header}}}}
		got, ok := retryAfter(err, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("Retry-After %q: %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.ok)
		}
	}
	if _, ok := retryAfter(errEndpoint, now); ok {
		t.Error("a plain error has a Retry-After")
	}
}
