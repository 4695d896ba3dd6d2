package tokensourcetest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// testStart is where driven clocks start in these tests: far from the real
// time, so that a test reading the wrong clock fails.
var testStart = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

// reply is a token-endpoint response as the tests see it.
type reply struct {
	Status int         `json:"-"`
	Header http.Header `json:"-"`

	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	Scope            string `json:"scope"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// post sends form to the token endpoint of srv with the default client
// credentials in a Basic header, and decodes the response.
func post(t *testing.T, srv *Server, form url.Values) reply {
	t.Helper()
	return postTo(t, srv.TokenURL(), form)
}

// postTo sends form to endpoint with the default client credentials in a
// Basic header, and decodes the response; an empty body decodes as no
// fields.
func postTo(t *testing.T, endpoint string, form url.Values) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(DefaultClientID, DefaultClientSecret)
	return do(t, req)
}

// do sends a request built by the test and decodes the JSON response.
func do(t *testing.T, req *http.Request) reply {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading token response: %v", err)
	}
	var r reply
	if len(body) == 0 {
		r.Status, r.Header = resp.StatusCode, resp.Header
		return r
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("token response %d is not JSON: %v: %q", resp.StatusCode, err, body)
	}
	r.Status, r.Header = resp.StatusCode, resp.Header
	return r
}

// refresh exchanges the refresh token rt at srv.
func refresh(t *testing.T, srv *Server, rt string) reply {
	t.Helper()
	return post(t, srv, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}})
}

// mustRefresh exchanges rt and fails the test unless a token pair comes back.
func mustRefresh(t *testing.T, srv *Server, rt string) reply {
	t.Helper()
	r := refresh(t, srv, rt)
	if r.Status != http.StatusOK || r.AccessToken == "" || r.RefreshToken == "" {
		t.Fatalf("refresh: got %d %s (%s), want 200 with a token pair", r.Status, r.Error, r.ErrorDescription)
	}
	return r
}

// wantError fails the test unless r is an error response with the given
// status and error code.
func wantError(t *testing.T, r reply, status int, code string) {
	t.Helper()
	if r.Status != status || r.Error != code {
		t.Fatalf("got %d %q (%s), want %d %q", r.Status, r.Error, r.ErrorDescription, status, code)
	}
	if r.AccessToken != "" {
		t.Errorf("error response carries an access token")
	}
}
