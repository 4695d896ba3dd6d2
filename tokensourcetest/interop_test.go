package tokensourcetest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// TestOAuth2ConfigTokenSource drives a refresh through x/oauth2's own
// Config.TokenSource and Config.Client.
func TestOAuth2ConfigTokenSource(t *testing.T) {
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		srv := NewServer(&Options{AuthStyle: style})
		ctx := context.Background()
		tok := srv.Login()
		old := tok.RefreshToken
		// x/oauth2 judges expiry by the real clock: make it refresh.
		tok.Expiry = time.Now().Add(-time.Minute)

		ts := srv.Config().TokenSource(ctx, tok)
		resp, err := oauth2.NewClient(ctx, ts).Get(srv.ResourceURL())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"ok":true,"subject":"user"}` {
			t.Errorf("style %v: resource responded %d %s", style, resp.StatusCode, body)
		}

		newTok, err := ts.Token()
		if err != nil {
			t.Fatal(err)
		}
		if newTok.RefreshToken == old || newTok.AccessToken == tok.AccessToken {
			t.Errorf("style %v: x/oauth2 holds unrotated tokens", style)
		}
		if left := time.Until(newTok.Expiry); left < 59*time.Minute || left > time.Hour {
			t.Errorf("style %v: the refreshed token expires in %v, want about an hour", style, left)
		}
		want := Stats{TokenRequests: 1, Refreshes: 1, Issued: 2, Resource200: 1}
		if diff := cmp.Diff(want, srv.Stats()); diff != "" {
			t.Errorf("style %v: Stats() mismatch (-want +got):\n%s", style, diff)
		}

		// The refresh token x/oauth2 started with is used now.
		wantError(t, refresh(t, srv, old), http.StatusBadRequest, "invalid_grant")
		srv.Close()
	}
}

// TestOAuth2ClientSees401 shows the challenge reaching an x/oauth2 client
// whose token the server expired early. x/oauth2 itself does not refresh on
// a 401.
func TestOAuth2ClientSees401(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	ctx := context.Background()
	tok := srv.Login()
	client := srv.Config().Client(ctx, tok)

	srv.ExpireAccessToken(tok.AccessToken)
	resp, err := client.Get(srv.ResourceURL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := `Bearer realm="tokensourcetest", error="invalid_token", error_description="the access token expired"`
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != want {
		t.Errorf("got %d %q, want 401 %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), want)
	}
}

func TestOAuth2RefreshAfterReuse(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	tok := srv.Login()
	mustRefresh(t, srv, tok.RefreshToken) // another process rotated it

	tok.Expiry = time.Now().Add(-time.Minute)
	_, err := srv.Config().TokenSource(context.Background(), tok).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" || re.Response.StatusCode != http.StatusBadRequest {
		t.Fatalf("err = %v, want 400 invalid_grant", err)
	}
	if got := srv.Stats().ReuseDetected; got != 1 {
		t.Errorf("ReuseDetected = %d, want 1", got)
	}
}

func TestClientCredentialsConfig(t *testing.T) {
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		srv := NewServer(&Options{AuthStyle: style})
		ctx := context.Background()
		conf := srv.ClientCredentials()
		conf.Scopes = []string{"jobs", "reports"}

		tok, err := conf.Token(ctx)
		if err != nil {
			t.Fatalf("style %v: %v", style, err)
		}
		if tok.AccessToken == "" || tok.RefreshToken != "" {
			t.Errorf("style %v: token %+v, want an access token and no refresh token", style, tok)
		}
		if got := tok.Extra("scope"); got != "jobs reports" {
			t.Errorf("style %v: scope %v, want %q", style, got, "jobs reports")
		}

		srv.RequireScope("reports")
		resp, err := conf.Client(ctx).Get(srv.ResourceURL())
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"ok":true,"subject":"test-client"}` {
			t.Errorf("style %v: resource responded %d %s", style, resp.StatusCode, body)
		}

		conf.ClientSecret = "wrong"
		_, err = conf.Token(ctx)
		var re *oauth2.RetrieveError
		if !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
			t.Errorf("style %v, wrong secret: err = %v, want invalid_client", style, err)
		}
		want := Stats{TokenRequests: 3, Issued: 2, Resource200: 1}
		if diff := cmp.Diff(want, srv.Stats()); diff != "" {
			t.Errorf("style %v: Stats() mismatch (-want +got):\n%s", style, diff)
		}
		srv.Close()
	}
}
