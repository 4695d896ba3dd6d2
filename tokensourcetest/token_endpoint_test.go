package tokensourcetest

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/oauth2"
)

func TestClientAuthentication(t *testing.T) {
	const id, secret = "my client/1", "s3cr:t %+&é" // every character that needs encoding
	srv := NewServer(&Options{ClientID: id, ClientSecret: secret})
	defer srv.Close()

	tests := []struct {
		name         string
		header       [2]string // Basic user and password, URL-encoded; unset if both empty
		form         url.Values
		wantRejected bool
	}{
		{name: "header", header: [2]string{url.QueryEscape(id), url.QueryEscape(secret)}},
		{name: "form", form: url.Values{"client_id": {id}, "client_secret": {secret}}},
		{name: "header and same form", header: [2]string{url.QueryEscape(id), url.QueryEscape(secret)},
			form: url.Values{"client_id": {id}, "client_secret": {secret}}},
		{name: "header and form id only", header: [2]string{url.QueryEscape(id), url.QueryEscape(secret)},
			form: url.Values{"client_id": {id}}},
		{name: "header and different form", header: [2]string{url.QueryEscape(id), url.QueryEscape(secret)},
			form: url.Values{"client_id": {id}, "client_secret": {"other"}}, wantRejected: true},
		{name: "header and different form id", header: [2]string{url.QueryEscape(id), url.QueryEscape(secret)},
			form: url.Values{"client_id": {"other"}}, wantRejected: true},
		{name: "header not URL-decoded", header: [2]string{id, secret}, wantRejected: true},
		{name: "wrong secret in header", header: [2]string{url.QueryEscape(id), "wrong"}, wantRejected: true},
		{name: "wrong secret in form", form: url.Values{"client_id": {id}, "client_secret": {"wrong"}}, wantRejected: true},
		{name: "no secret in form", form: url.Values{"client_id": {id}}, wantRejected: true},
		{name: "wrong id", form: url.Values{"client_id": {"x"}, "client_secret": {secret}}, wantRejected: true},
		{name: "none", wantRejected: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}}
			for k, v := range tt.form {
				form[k] = v
			}
			req, err := http.NewRequest(http.MethodPost, srv.TokenURL(), strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.header != [2]string{} {
				req.SetBasicAuth(tt.header[0], tt.header[1])
			}
			r := do(t, req)
			if !tt.wantRejected {
				if r.Status != http.StatusOK || r.AccessToken == "" {
					t.Fatalf("got %d %s (%s), want a token", r.Status, r.Error, r.ErrorDescription)
				}
				return
			}
			wantError(t, r, http.StatusUnauthorized, "invalid_client")
			if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic ") {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge", got)
			}
		})
	}
}

func TestClientAuthenticationThroughOAuth2(t *testing.T) {
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams, oauth2.AuthStyleAutoDetect} {
		srv := NewServer(&Options{ClientSecret: "a+b c/d:%", AuthStyle: style})
		conf := srv.Config()
		if style == oauth2.AuthStyleAutoDetect {
			if conf.Endpoint.AuthStyle != oauth2.AuthStyleInHeader {
				t.Errorf("AuthStyle 0: Config().Endpoint.AuthStyle = %v, want AuthStyleInHeader", conf.Endpoint.AuthStyle)
			}
		} else if conf.Endpoint.AuthStyle != style {
			t.Errorf("Config().Endpoint.AuthStyle = %v, want %v", conf.Endpoint.AuthStyle, style)
		}
		tok, err := conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: srv.Login().RefreshToken}).Token()
		if err != nil {
			t.Errorf("style %v: refresh through x/oauth2: %v", style, err)
		} else if tok.AccessToken == "" {
			t.Errorf("style %v: no access token", style)
		}

		conf.ClientSecret = "wrong"
		_, err = conf.TokenSource(context.Background(), &oauth2.Token{RefreshToken: srv.Login().RefreshToken}).Token()
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || re.Response.StatusCode != http.StatusUnauthorized {
			t.Errorf("style %v, wrong secret: err = %v, want 401 invalid_client", style, err)
		}
		srv.Close()
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	rt := srv.Login().RefreshToken

	tests := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"unsupported grant", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"x"}}, 400, "unsupported_grant_type"},
		{"missing grant_type", url.Values{}, 400, "invalid_request"},
		{"missing refresh_token", url.Values{"grant_type": {"refresh_token"}}, 400, "invalid_request"},
		{"unknown refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt_nope"}}, 400, "invalid_grant"},
		{"access token as refresh token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {srv.Login().AccessToken}}, 400, "invalid_grant"},
		{"repeated parameter", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt, rt}}, 400, "invalid_request"},
		{"wider scope on refresh", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"admin"}}, 400, "invalid_scope"},
		{"wrong password", url.Values{"grant_type": {"password"}, "username": {Username}, "password": {"nope"}}, 400, "invalid_grant"},
		{"unknown user", url.Values{"grant_type": {"password"}, "username": {"root"}, "password": {Password}}, 400, "invalid_grant"},
		{"missing password", url.Values{"grant_type": {"password"}, "username": {Username}}, 400, "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := post(t, srv, tt.form)
			wantError(t, r, tt.status, tt.code)
			if r.ErrorDescription == "" {
				t.Errorf("no error_description")
			}
			if got := r.Header.Get("Cache-Control"); got != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store", got)
			}
		})
	}
	// None of this touched the family.
	mustRefresh(t, srv, rt)
}

func TestTokenEndpointRejectsGet(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()

	req, err := http.NewRequest(http.MethodGet, srv.TokenURL()+"?grant_type=client_credentials", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(DefaultClientID, DefaultClientSecret)
	r := do(t, req)
	wantError(t, r, http.StatusMethodNotAllowed, "invalid_request")
	if got := r.Header.Get("Allow"); got != http.MethodPost {
		t.Errorf("Allow = %q, want POST", got)
	}
	if diff := cmp.Diff(Stats{TokenRequests: 1}, srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestPasswordGrant(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	conf := srv.Config()
	conf.Scopes = []string{"read", "write"}

	tok, err := conf.PasswordCredentialsToken(context.Background(), Username, Password)
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("password grant returned %+v, want a token pair", tok)
	}
	if got := tok.Extra("scope"); got != "read write" {
		t.Errorf("scope = %v, want %q", got, "read write")
	}

	// A refresh keeps the scope, or narrows it on request.
	r := mustRefresh(t, srv, tok.RefreshToken)
	if r.Scope != "read write" {
		t.Errorf("refresh: scope = %q, want %q", r.Scope, "read write")
	}
	r = post(t, srv, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {r.RefreshToken}, "scope": {"read"}})
	if r.Status != http.StatusOK || r.Scope != "read" {
		t.Errorf("narrowing refresh: %d %s, scope %q; want 200, scope read", r.Status, r.Error, r.Scope)
	}

	_, err = conf.PasswordCredentialsToken(context.Background(), Username, "wrong")
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("wrong password: err = %v, want invalid_grant", err)
	}
	want := Stats{TokenRequests: 4, Refreshes: 2, Issued: 3}
	if diff := cmp.Diff(want, srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestClientCredentialsGrant(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()

	r := post(t, srv, url.Values{"grant_type": {"client_credentials"}, "scope": {"jobs"}})
	if r.Status != http.StatusOK || r.AccessToken == "" {
		t.Fatalf("got %d %s, want a token", r.Status, r.Error)
	}
	if r.RefreshToken != "" {
		t.Errorf("client_credentials returned a refresh token")
	}
	if r.Scope != "jobs" || r.ExpiresIn != 3600 {
		t.Errorf("scope %q, expires_in %d; want jobs, 3600", r.Scope, r.ExpiresIn)
	}
}

func TestConfig(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()

	want := &oauth2.Config{
		ClientID:     DefaultClientID,
		ClientSecret: DefaultClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:       srv.URL + "/authorize",
			DeviceAuthURL: srv.URL + "/device_authorization",
			TokenURL:      srv.URL + "/token",
			AuthStyle:     oauth2.AuthStyleInHeader,
		},
	}
	a, b := srv.Config(), srv.Config()
	if diff := cmp.Diff(want, a, cmpopts.IgnoreUnexported(oauth2.Config{})); diff != "" {
		t.Errorf("Config() mismatch (-want +got):\n%s", diff)
	}
	if a == b {
		t.Errorf("Config() returned the same *Config twice")
	}
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Errorf("URL = %q, want loopback", srv.URL)
	}
	cc := srv.ClientCredentials()
	if cc.ClientID != DefaultClientID || cc.ClientSecret != DefaultClientSecret ||
		cc.TokenURL != srv.TokenURL() || cc.AuthStyle != oauth2.AuthStyleInHeader || cc.Scopes != nil {
		t.Errorf("ClientCredentials() = %+v", cc)
	}
}
