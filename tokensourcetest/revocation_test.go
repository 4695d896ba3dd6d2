package tokensourcetest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// revoke posts a revocation request for token with the given hint.
func revoke(t *testing.T, srv *Server, token, hint string) reply {
	t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	return postTo(t, srv.RevocationURL(), form)
}

// resourceStatus calls the resource with access and returns the status.
func resourceStatus(t *testing.T, srv *Server, access string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.ResourceURL(), nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRevokeRefreshTokenRevokesItsFamily(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	tok := srv.Login()
	next := mustRefresh(t, srv, tok.RefreshToken) // the family holds two access tokens now

	if r := revoke(t, srv, next.RefreshToken, "refresh_token"); r.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.Status, r.Error)
	}
	wantError(t, refresh(t, srv, next.RefreshToken), http.StatusBadRequest, "invalid_grant")
	for _, access := range []string{tok.AccessToken, next.AccessToken} {
		if got := resourceStatus(t, srv, access); got != http.StatusUnauthorized {
			t.Errorf("resource with an access token of the revoked family: %d, want 401", got)
		}
		if !srv.Revoked(access) {
			t.Errorf("Revoked(access token of the family) = false")
		}
	}
	if !srv.Revoked(next.RefreshToken) {
		t.Errorf("Revoked(refresh token) = false")
	}
	if st := srv.Stats(); st.Revocations != 1 || st.RevocationRequests != 1 {
		t.Errorf("Revocations, RevocationRequests = %d, %d, want 1, 1", st.Revocations, st.RevocationRequests)
	}
}

func TestRevokeAccessTokenAlone(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	tok := srv.Login()

	// The hint is wrong on purpose: the server looks the token up anyway.
	if r := revoke(t, srv, tok.AccessToken, "refresh_token"); r.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.Status, r.Error)
	}
	if got := resourceStatus(t, srv, tok.AccessToken); got != http.StatusUnauthorized {
		t.Errorf("resource with the revoked access token: %d, want 401", got)
	}
	if !srv.Revoked(tok.AccessToken) || srv.Revoked(tok.RefreshToken) {
		t.Errorf("Revoked(access), Revoked(refresh) = %v, %v, want true, false",
			srv.Revoked(tok.AccessToken), srv.Revoked(tok.RefreshToken))
	}
	next := mustRefresh(t, srv, tok.RefreshToken)
	if got := resourceStatus(t, srv, next.AccessToken); got != http.StatusOK {
		t.Errorf("resource with the refreshed access token: %d, want 200", got)
	}
}

func TestRevokeUnknownTokenSucceeds(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	// RFC 7009 §2.2: an invalid token gets 200 too.
	if r := revoke(t, srv, "rt_never-issued", ""); r.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s, want 200", r.Status, r.Error)
	}
	if st := srv.Stats(); st.Revocations != 0 || st.RevocationRequests != 1 {
		t.Errorf("Revocations, RevocationRequests = %d, %d, want 0, 1", st.Revocations, st.RevocationRequests)
	}
	if srv.Revoked("rt_never-issued") {
		t.Errorf("Revoked(unknown token) = true")
	}
}

func TestRevokeErrors(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	tok := srv.Login()

	wantError(t, postTo(t, srv.RevocationURL(), url.Values{}), http.StatusBadRequest, "invalid_request")
	wantError(t, postTo(t, srv.RevocationURL(), url.Values{"token": {"a", "b"}}), http.StatusBadRequest, "invalid_request")

	req, _ := http.NewRequest(http.MethodPost, srv.RevocationURL(),
		strings.NewReader(url.Values{"token": {tok.RefreshToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(DefaultClientID, "wrong")
	wantError(t, do(t, req), http.StatusUnauthorized, "invalid_client")

	req, _ = http.NewRequest(http.MethodGet, srv.RevocationURL(), nil)
	if r := do(t, req); r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") != http.MethodPost {
		t.Errorf("GET: %d, Allow %q, want 405, POST", r.Status, r.Header.Get("Allow"))
	}
	if srv.Revoked(tok.RefreshToken) {
		t.Errorf("a refused request revoked the token")
	}

	// Client credentials in the form work as well as in the header.
	req, _ = http.NewRequest(http.MethodPost, srv.RevocationURL(), strings.NewReader(url.Values{
		"token": {tok.RefreshToken}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret},
	}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := do(t, req); r.Status != http.StatusOK || !srv.Revoked(tok.RefreshToken) {
		t.Errorf("revoke with credentials in the form: %d, revoked %v", r.Status, srv.Revoked(tok.RefreshToken))
	}
}

func TestRevocationUnavailable(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	tok := srv.Login()

	srv.SetRevocationUnavailable(true)
	r := revoke(t, srv, tok.RefreshToken, "refresh_token")
	wantError(t, r, http.StatusServiceUnavailable, "temporarily_unavailable")
	if r.Header.Get("Retry-After") != "2" {
		t.Errorf("Retry-After = %q, want 2", r.Header.Get("Retry-After"))
	}
	if srv.Revoked(tok.RefreshToken) {
		t.Fatalf("an unavailable endpoint revoked the token")
	}
	mustRefresh(t, srv, tok.RefreshToken)

	srv.SetRevocationUnavailable(false)
	if r := revoke(t, srv, tok.AccessToken, ""); r.Status != http.StatusOK || !srv.Revoked(tok.AccessToken) {
		t.Errorf("after recovery: %d, revoked %v", r.Status, srv.Revoked(tok.AccessToken))
	}
	if st := srv.Stats(); st.Revocations != 1 || st.RevocationRequests != 2 {
		t.Errorf("Revocations, RevocationRequests = %d, %d, want 1, 2", st.Revocations, st.RevocationRequests)
	}
}
