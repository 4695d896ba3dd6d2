package tokensourcetest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// redirectURI is where these tests' authorization requests send the user
// back. Nothing listens there: the tests read the redirect itself.
const redirectURI = "http://127.0.0.1:9/callback"

// authorizeRedirect sends the authorization request authURL without
// following the redirect, and returns the status and the Location's query.
func authorizeRedirect(t *testing.T, authURL string) (int, url.Values) {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, loc.Query()
}

// codeFor returns the config for redirectURI and the code that the
// scripted user's approval sends back for verifier.
func codeFor(t *testing.T, srv *Server, verifier string) (*oauth2.Config, string) {
	t.Helper()
	conf := srv.Config()
	conf.RedirectURL = redirectURI
	status, q := authorizeRedirect(t, conf.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier)))
	if status != http.StatusFound || q.Get("code") == "" || q.Get("state") != "st4te" {
		t.Fatalf("authorize: %d %v, want 302 with a code and the state", status, q)
	}
	return conf, q.Get("code")
}

func TestAuthorizationCodeWithPKCE(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	ctx := context.Background()
	verifier := oauth2.GenerateVerifier()
	conf, code := codeFor(t, srv, verifier)

	tok, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.RefreshToken == "" || resourceStatus(t, srv, tok.AccessToken) != http.StatusOK {
		t.Fatalf("the exchanged token does not work, or has no refresh token")
	}
	mustRefresh(t, srv, tok.RefreshToken)
	if st := srv.Stats(); st.Authorizations != 1 || st.CodeExchanges != 1 {
		t.Errorf("Authorizations, CodeExchanges = %d, %d, want 1, 1", st.Authorizations, st.CodeExchanges)
	}

	// A code used twice revokes what it gave (RFC 6749 §4.1.2).
	_, err = conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	wantCode(t, err, "invalid_grant")
	if !srv.Revoked(tok.RefreshToken) {
		t.Errorf("the tokens of a code presented twice were not revoked")
	}
}

func TestAuthorizationCodeExchangeChecks(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	ctx := context.Background()
	verifier := oauth2.GenerateVerifier()
	conf, code := codeFor(t, srv, verifier)

	_, err := conf.Exchange(ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
	wantCode(t, err, "invalid_grant") // another verifier
	_, err = conf.Exchange(ctx, code)
	wantCode(t, err, "invalid_request") // none
	other := *conf
	other.RedirectURL = "http://127.0.0.1:10/callback"
	_, err = other.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	wantCode(t, err, "invalid_grant") // another redirect URI
	other = *conf
	other.ClientSecret = "wrong"
	_, err = other.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	wantCode(t, err, "invalid_client")
	_, err = conf.Exchange(ctx, "ac_unknown", oauth2.VerifierOption(verifier))
	wantCode(t, err, "invalid_grant")

	// None of the refusals spent the code.
	if _, err := conf.Exchange(ctx, code, oauth2.VerifierOption(verifier)); err != nil {
		t.Fatalf("the right exchange after refused ones: %v", err)
	}
	if st := srv.Stats(); st.CodeExchanges != 1 || st.Issued != 1 {
		t.Errorf("CodeExchanges, Issued = %d, %d, want 1, 1", st.CodeExchanges, st.Issued)
	}
}

func TestAuthorizationCodeExpires(t *testing.T) {
	clock := NewClock(testStart)
	srv := NewServer(&Options{Now: clock.Now})
	defer srv.Close()
	verifier := oauth2.GenerateVerifier()
	conf, code := codeFor(t, srv, verifier)

	clock.Advance(time.Minute)
	_, err := conf.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	wantCode(t, err, "invalid_grant")
}

func TestAuthorizeRedirectsErrors(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	base := url.Values{
		"response_type": {"code"}, "client_id": {DefaultClientID}, "redirect_uri": {redirectURI},
		"state": {"s"}, "code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}
	tests := []struct {
		name   string
		change url.Values // "" removes the parameter
		deny   bool
		code   string
	}{
		{name: "no PKCE", change: url.Values{"code_challenge": {""}, "code_challenge_method": {""}}, code: "invalid_request"},
		{name: "plain PKCE", change: url.Values{"code_challenge_method": {"plain"}}, code: "invalid_request"},
		{name: "short challenge", change: url.Values{"code_challenge": {"abc"}}, code: "invalid_request"},
		{name: "implicit", change: url.Values{"response_type": {"token"}}, code: "unsupported_response_type"},
		{name: "user denies", deny: true, code: "access_denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := url.Values{}
			for k, v := range base {
				q[k] = v
			}
			for k, v := range tt.change {
				if v[0] == "" {
					q.Del(k)
				} else {
					q[k] = v
				}
			}
			srv.DenyConsent(tt.deny)
			defer srv.DenyConsent(false)
			status, got := authorizeRedirect(t, srv.AuthorizeURL()+"?"+q.Encode())
			if status != http.StatusFound || got.Get("error") != tt.code || got.Get("state") != "s" || got.Has("code") {
				t.Errorf("got %d %v, want 302 with error %s and the state, no code", status, got, tt.code)
			}
		})
	}
	if st := srv.Stats(); st.Authorizations != 0 {
		t.Errorf("Authorizations = %d, want 0", st.Authorizations)
	}
}

func TestAuthorizeRefusesToRedirect(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	challenge := oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())
	for _, tt := range []struct{ name, client, redirect string }{
		{"unknown client", "other", redirectURI},
		{"no redirect URI", DefaultClientID, ""},
		{"localhost", DefaultClientID, "http://localhost:9/callback"},
		{"remote host", DefaultClientID, "http://example.com/callback"},
		{"https", DefaultClientID, "https://127.0.0.1:9/callback"},
		{"fragment", DefaultClientID, redirectURI + "#x"},
	} {
		q := url.Values{"response_type": {"code"}, "client_id": {tt.client}, "state": {"s"},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"}}
		if tt.redirect != "" {
			q.Set("redirect_uri", tt.redirect)
		}
		status, _ := authorizeRedirect(t, srv.AuthorizeURL()+"?"+q.Encode())
		if status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400 and no redirect", tt.name, status)
		}
	}
}

func TestAuthorizeAcceptsIPv6Loopback(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	conf := srv.Config()
	conf.RedirectURL = "http://[::1]:8085/cb?app=1"
	status, q := authorizeRedirect(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if status != http.StatusFound || q.Get("code") == "" || q.Get("app") != "1" {
		t.Errorf("got %d %v, want a redirect with a code that keeps the URI's own query", status, q)
	}
}

// wantCode fails the test unless err is a token endpoint error with code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != code {
		t.Errorf("err = %v, want %s", err, code)
	}
}
