package tokensource

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// A secret with every character that needs encoding, in Basic and in a form.
const revokeSecret = "s3cr:t %+&é"

func TestRevokeRefreshTokenRevokesTheGrant(t *testing.T) {
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams, oauth2.AuthStyleAutoDetect} {
		srv := tokensourcetest.NewServer(&tokensourcetest.Options{ClientSecret: revokeSecret})
		tok := srv.Login()
		auth := clientAuth{id: tokensourcetest.DefaultClientID, secret: revokeSecret, style: style}

		if err := revoke(context.Background(), nil, srv.RevocationURL(), auth, tok.RefreshToken, "refresh_token"); err != nil {
			t.Errorf("style %v: %v", style, err)
		}
		if !srv.Revoked(tok.RefreshToken) || !srv.Revoked(tok.AccessToken) {
			t.Errorf("style %v: the server did not revoke the grant", style)
		}
		_, err := srv.Config().TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err == nil {
			t.Errorf("style %v: the revoked refresh token still refreshes", style)
		}
		srv.Close()
	}
}

func TestRevokeAccessToken(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	tok := srv.Login()
	auth := clientAuth{id: tokensourcetest.DefaultClientID, secret: tokensourcetest.DefaultClientSecret}

	if err := revoke(context.Background(), http.DefaultClient, srv.RevocationURL(), auth, tok.AccessToken, "access_token"); err != nil {
		t.Fatal(err)
	}
	if !srv.Revoked(tok.AccessToken) || srv.Revoked(tok.RefreshToken) {
		t.Errorf("Revoked(access), Revoked(refresh) = %v, %v, want true, false",
			srv.Revoked(tok.AccessToken), srv.Revoked(tok.RefreshToken))
	}
	if st := srv.Stats(); st.RevocationRequests != 1 {
		t.Errorf("RevocationRequests = %d, want 1: one request per call", st.RevocationRequests)
	}
}

func TestRevokeInvalidTokenIsDone(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	auth := clientAuth{id: tokensourcetest.DefaultClientID, secret: tokensourcetest.DefaultClientSecret}
	// RFC 7009 §2.2: the server says 200 for a token it does not know.
	if err := revoke(context.Background(), nil, srv.RevocationURL(), auth, "rt_long-gone", "refresh_token"); err != nil {
		t.Errorf("revoking an invalid token: %v, want nil", err)
	}
}

func TestRevokeFailuresSayTheServerWasNotTold(t *testing.T) {
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{ClientSecret: revokeSecret})
	tok := srv.Login()
	good := clientAuth{id: tokensourcetest.DefaultClientID, secret: revokeSecret}
	wrong := clientAuth{id: tokensourcetest.DefaultClientID, secret: "wr:ong secret"}
	ctx := context.Background()

	check := func(name string, err error, want string, secrets ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		msg := err.Error()
		if !strings.Contains(msg, "the server was not told to revoke the refresh token") || !strings.Contains(msg, want) {
			t.Errorf("%s: %q, want it to say the server was not told, and %q", name, msg, want)
		}
		for _, s := range append(secrets, tok.RefreshToken, url.QueryEscape(revokeSecret)) {
			if strings.Contains(msg, s) {
				t.Errorf("%s: the error quotes a secret: %q", name, msg)
			}
		}
	}

	srv.SetRevocationUnavailable(true)
	check("503", revoke(ctx, nil, srv.RevocationURL(), good, tok.RefreshToken, "refresh_token"), "503")
	srv.SetRevocationUnavailable(false)
	check("wrong secret", revoke(ctx, nil, srv.RevocationURL(), wrong, tok.RefreshToken, "refresh_token"), "invalid_client", "wr:ong secret")
	if srv.Revoked(tok.RefreshToken) {
		t.Fatalf("a failed revocation revoked the token")
	}

	srv.Close()
	check("unreachable", revoke(ctx, nil, srv.RevocationURL(), good, tok.RefreshToken, "refresh_token"), "no response")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	check("cancelled", revoke(cancelled, nil, srv.RevocationURL(), good, tok.RefreshToken, "refresh_token"), "context canceled")
}

func TestRevokeRedactsWhatTheServerEchoes(t *testing.T) {
	const token = "rt_echoed-token"
	var form url.Values
	var user, pass string
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		form = r.PostForm
		user, pass, _ = r.BasicAuth()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{
			"error":             "unsupported_token_type",
			"error_description": "cannot revoke " + token + " for " + r.Header.Get("Authorization") + " " + revokeSecret,
		})
	}))
	defer echo.Close()

	// Auto-detection sends a Basic header, and nothing of the client in the form.
	auth := clientAuth{id: "my client", secret: revokeSecret, style: oauth2.AuthStyleAutoDetect}
	err := revoke(context.Background(), nil, echo.URL, auth, token, "refresh_token")
	if user != url.QueryEscape("my client") || pass != url.QueryEscape(revokeSecret) || form.Has("client_secret") || form.Has("client_id") {
		t.Errorf("Basic %q:%q and form %v, want the URL-encoded credentials in the header only", user, pass, form)
	}
	if form.Get("token") != token || form.Get("token_type_hint") != "refresh_token" {
		t.Errorf("form %v, want the token and its hint", form)
	}
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	if strings.Contains(msg, token) || strings.Contains(msg, revokeSecret) || strings.Contains(msg, "Basic ") && !strings.Contains(msg, "Basic [redacted]") {
		t.Errorf("the error quotes a secret: %q", msg)
	}
	if !strings.Contains(msg, "400") || !strings.Contains(msg, "unsupported_token_type") {
		t.Errorf("error %q, want the status and the error code", msg)
	}
}
