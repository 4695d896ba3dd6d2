package tokensourcetest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// resourceReply is a protected-resource response as the tests see it.
type resourceReply struct {
	Status    int
	Challenge string // WWW-Authenticate
	Body      string
}

// callResource sends a request with the given method, Authorization header
// (none if empty) and body to url.
func callResource(t *testing.T, method, url, authorization string, body []byte) resourceReply {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("resource request: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading resource response: %v", err)
	}
	return resourceReply{resp.StatusCode, resp.Header.Get("WWW-Authenticate"), strings.TrimSpace(string(b))}
}

// get calls the resource of srv with the access token access.
func get(t *testing.T, srv *Server, access string) resourceReply {
	t.Helper()
	return callResource(t, http.MethodGet, srv.ResourceURL(), "Bearer "+access, nil)
}

// wantInvalidToken fails the test unless r is a 401 invalid_token response
// whose description contains desc.
func wantInvalidToken(t *testing.T, r resourceReply, desc string) {
	t.Helper()
	want := `Bearer realm="tokensourcetest", error="invalid_token", error_description="` + desc
	if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Challenge, want) {
		t.Errorf("got %d with challenge %q, want 401 with %s...", r.Status, r.Challenge, want)
	}
}

func TestResourceValidToken(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	tok := srv.Login()

	for _, auth := range []string{"Bearer ", "bearer ", "BEARER ", "Bearer   "} {
		r := callResource(t, http.MethodGet, srv.ResourceURL(), auth+tok.AccessToken, nil)
		want := resourceReply{Status: 200, Body: `{"ok":true,"subject":"user"}`}
		if diff := cmp.Diff(want, r); diff != "" {
			t.Errorf("Authorization %q: mismatch (-want +got):\n%s", auth+"...", diff)
		}
	}
	if r := get(t, srv, tok.AccessToken); r.Status != 200 {
		t.Errorf("second use: %d, want 200", r.Status)
	}
	if r := callResource(t, http.MethodGet, srv.ResourceURL()+"/a/b?c=d", "Bearer "+tok.AccessToken, nil); r.Status != 200 {
		t.Errorf("path below the resource: %d, want 200", r.Status)
	}
}

func TestResourceEchoesBody(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	tok := srv.Login()

	body := bytes.Repeat([]byte("replayed body "), 1000)
	sum := sha256.Sum256(body)
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodPatch} {
		r := callResource(t, method, srv.ResourceURL(), "Bearer "+tok.AccessToken, body)
		var got struct {
			OK         bool   `json:"ok"`
			BodyBytes  int64  `json:"body_bytes"`
			BodySHA256 string `json:"body_sha256"`
		}
		if err := json.Unmarshal([]byte(r.Body), &got); err != nil {
			t.Fatalf("%s: %v: %s", method, err, r.Body)
		}
		if !got.OK || got.BodyBytes != int64(len(body)) || got.BodySHA256 != hex.EncodeToString(sum[:]) {
			t.Errorf("%s: got %+v, want %d bytes with sha256 %x", method, got, len(body), sum)
		}
	}
	// An empty POST body is reported as such.
	r := callResource(t, http.MethodPost, srv.ResourceURL(), "Bearer "+tok.AccessToken, nil)
	want := `{"ok":true,"subject":"user","body_bytes":0,"body_sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}`
	if r.Body != want {
		t.Errorf("empty POST: body %s, want %s", r.Body, want)
	}
}

func TestResourceNoToken(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()

	for _, auth := range []string{"", "Basic dGVzdDp0ZXN0", "Bearer"} {
		r := callResource(t, http.MethodGet, srv.ResourceURL(), auth, nil)
		if r.Status != http.StatusUnauthorized || r.Challenge != `Bearer realm="tokensourcetest"` {
			t.Errorf("Authorization %q: got %d %q, want 401 with a challenge without an error code", auth, r.Status, r.Challenge)
		}
	}
}

func TestResourceInvalidToken(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()

	wantInvalidToken(t, get(t, srv, "at_unknown"), "unknown access token")
	wantInvalidToken(t, get(t, srv, srv.Login().RefreshToken), "unknown access token")

	expired := srv.Login()
	srv.ExpireAccessToken(expired.AccessToken)
	wantInvalidToken(t, get(t, srv, expired.AccessToken), "the access token expired")

	revoked := srv.Login()
	srv.RevokeAccessToken(revoked.AccessToken)
	wantInvalidToken(t, get(t, srv, revoked.AccessToken), "the access token was revoked")

	// Their refresh tokens stay good, and the new access tokens work.
	for _, tok := range []string{expired.RefreshToken, revoked.RefreshToken} {
		r := mustRefresh(t, srv, tok)
		if got := get(t, srv, r.AccessToken); got.Status != http.StatusOK {
			t.Errorf("after refresh: %d, want 200", got.Status)
		}
	}
}

func TestResourceExpiryByClock(t *testing.T) {
	clock := NewClock(testStart)
	srv := NewServer(&Options{Now: clock.Now, AccessTokenLifetime: 5 * time.Minute})
	defer srv.Close()

	tok := srv.Login()
	clock.Advance(5*time.Minute - time.Nanosecond)
	if r := get(t, srv, tok.AccessToken); r.Status != http.StatusOK {
		t.Fatalf("just before expiry: %d, want 200", r.Status)
	}
	clock.Advance(time.Nanosecond)
	wantInvalidToken(t, get(t, srv, tok.AccessToken), "the access token expired")

	// The refresh token does not expire; the new access token is judged from
	// the time it was issued.
	r := mustRefresh(t, srv, tok.RefreshToken)
	if got := get(t, srv, r.AccessToken); got.Status != http.StatusOK {
		t.Errorf("new token: %d, want 200", got.Status)
	}
	clock.Advance(5 * time.Minute)
	wantInvalidToken(t, get(t, srv, r.AccessToken), "the access token expired")
}

func TestReuseRevokesFamilyAccessTokens(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()

	tok := srv.Login()
	bystander := srv.Login()
	r := mustRefresh(t, srv, tok.RefreshToken)
	wantError(t, refresh(t, srv, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")

	wantInvalidToken(t, get(t, srv, tok.AccessToken), "the token family was revoked")
	wantInvalidToken(t, get(t, srv, r.AccessToken), "the token family was revoked")
	if got := get(t, srv, bystander.AccessToken); got.Status != http.StatusOK {
		t.Errorf("other family: %d, want 200", got.Status)
	}
}

func TestRevokeFamilyAccessTokens(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()

	tok := srv.Login()
	r := mustRefresh(t, srv, tok.RefreshToken)
	srv.RevokeFamily(r.RefreshToken)
	wantInvalidToken(t, get(t, srv, tok.AccessToken), "the token family was revoked")
	wantInvalidToken(t, get(t, srv, r.AccessToken), "the token family was revoked")

	// A client_credentials token has no family: it is revoked alone.
	cc := post(t, srv, url.Values{"grant_type": {"client_credentials"}})
	other := post(t, srv, url.Values{"grant_type": {"client_credentials"}})
	srv.RevokeFamily(cc.AccessToken)
	wantInvalidToken(t, get(t, srv, cc.AccessToken), "the access token was revoked")
	if got := get(t, srv, other.AccessToken); got.Status != http.StatusOK {
		t.Errorf("other client token: %d, want 200", got.Status)
	}
}

func TestRequireScope(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()

	plain := srv.Login()
	scoped := post(t, srv, url.Values{"grant_type": {"password"}, "username": {Username}, "password": {Password}, "scope": {"read admin"}})
	app := post(t, srv, url.Values{"grant_type": {"client_credentials"}, "scope": {"admin"}})

	srv.RequireScope("admin")
	r := get(t, srv, plain.AccessToken)
	want := `Bearer realm="tokensourcetest", error="insufficient_scope", error_description="the access token lacks the required scope", scope="admin"`
	if r.Status != http.StatusForbidden || r.Challenge != want {
		t.Errorf("token without the scope: got %d %q, want 403 %q", r.Status, r.Challenge, want)
	}
	if r := get(t, srv, scoped.AccessToken); r.Status != http.StatusOK {
		t.Errorf("token with the scope: %d, want 200", r.Status)
	}
	if r := get(t, srv, app.AccessToken); r.Status != http.StatusOK || r.Body != `{"ok":true,"subject":"test-client"}` {
		t.Errorf("client token with the scope: %d %s, want 200 with the client as subject", r.Status, r.Body)
	}
	// An invalid token is still a 401, not a 403.
	wantInvalidToken(t, get(t, srv, "at_unknown"), "unknown access token")

	srv.RequireScope("")
	if r := get(t, srv, plain.AccessToken); r.Status != http.StatusOK {
		t.Errorf("after RequireScope(\"\"): %d, want 200", r.Status)
	}

	want2 := Stats{TokenRequests: 2, Issued: 3, Resource200: 3, Resource401: 1, Resource403: 1}
	if diff := cmp.Diff(want2, srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestChallengeQuoting(t *testing.T) {
	got := challengeFor("insufficient_scope", `a "b" \c`, "x")
	want := `Bearer realm="tokensourcetest", error="insufficient_scope", error_description="a \"b\" \\c", scope="x"`
	if got != want {
		t.Errorf("challengeFor = %s, want %s", got, want)
	}
}

func TestNegativeLifetime(t *testing.T) {
	srv := NewServer(&Options{AccessTokenLifetime: -time.Minute})
	defer srv.Close()

	tok := srv.Login()
	wantInvalidToken(t, get(t, srv, tok.AccessToken), "the access token expired")
	r := mustRefresh(t, srv, tok.RefreshToken)
	if r.ExpiresIn != -60 {
		t.Errorf("expires_in = %d, want -60", r.ExpiresIn)
	}
	wantInvalidToken(t, get(t, srv, r.AccessToken), "the access token expired")
}
