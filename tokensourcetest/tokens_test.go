package tokensourcetest

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLogin(t *testing.T) {
	clock := NewClock(testStart)
	srv := NewServer(&Options{Now: clock.Now, AccessTokenLifetime: 90*time.Second + 900*time.Millisecond})
	defer srv.Close()

	tok := srv.Login()
	if !strings.HasPrefix(tok.AccessToken, accessPrefix) || !strings.HasPrefix(tok.RefreshToken, refreshPrefix) {
		t.Errorf("Login() = %q, %q; want prefixes %q, %q", tok.AccessToken, tok.RefreshToken, accessPrefix, refreshPrefix)
	}
	if tok.TokenType != "Bearer" {
		t.Errorf("TokenType = %q, want Bearer", tok.TokenType)
	}
	if want := testStart.Add(90*time.Second + 900*time.Millisecond); !tok.Expiry.Equal(want) {
		t.Errorf("Expiry = %v, want %v (from the server clock)", tok.Expiry, want)
	}
	if tok.ExpiresIn != 90 {
		t.Errorf("ExpiresIn = %d, want 90 (rounded down)", tok.ExpiresIn)
	}
	other := srv.Login()
	if other.AccessToken == tok.AccessToken || other.RefreshToken == tok.RefreshToken {
		t.Errorf("two logins returned the same tokens")
	}
	if diff := cmp.Diff(Stats{Issued: 2}, srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestRefreshRotates(t *testing.T) {
	srv := NewServer(&Options{AccessTokenLifetime: 10*time.Minute + 999*time.Millisecond})
	defer srv.Close()

	tok := srv.Login()
	r1 := mustRefresh(t, srv, tok.RefreshToken)
	if r1.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh returned the same refresh token; want a rotated one")
	}
	if r1.AccessToken == tok.AccessToken {
		t.Fatalf("refresh returned the same access token")
	}
	if r1.TokenType != "Bearer" || r1.ExpiresIn != 600 || r1.Scope != "" {
		t.Errorf("refresh: token_type %q, expires_in %d, scope %q; want Bearer, 600, none", r1.TokenType, r1.ExpiresIn, r1.Scope)
	}
	if got := r1.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
	if got := r1.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", got)
	}
	// The rotated refresh token keeps working, one use each.
	r2 := mustRefresh(t, srv, r1.RefreshToken)
	mustRefresh(t, srv, r2.RefreshToken)

	want := Stats{TokenRequests: 3, Refreshes: 3, Issued: 4}
	if diff := cmp.Diff(want, srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestReuseRevokesFamily(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()

	tok := srv.Login()
	bystander := srv.Login()
	r1 := mustRefresh(t, srv, tok.RefreshToken)

	// The old refresh token is presented again: reuse.
	wantError(t, refresh(t, srv, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
	// The whole family is revoked, including the refresh token that the
	// legitimate holder got from the rotation.
	wantError(t, refresh(t, srv, r1.RefreshToken), http.StatusBadRequest, "invalid_grant")
	wantError(t, refresh(t, srv, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
	// Another family is untouched.
	mustRefresh(t, srv, bystander.RefreshToken)

	want := Stats{TokenRequests: 5, Refreshes: 2, RefreshFailures: 3, ReuseDetected: 1, Issued: 4}
	if diff := cmp.Diff(want, srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestReuseGrace(t *testing.T) {
	clock := NewClock(testStart)
	srv := NewServer(&Options{Now: clock.Now, ReuseGrace: 30 * time.Second})
	defer srv.Close()

	tok := srv.Login()
	first := mustRefresh(t, srv, tok.RefreshToken)

	// A second process presents the same refresh token within the window: a
	// normal refresh, with its own new token pair.
	clock.Advance(29 * time.Second)
	second := mustRefresh(t, srv, tok.RefreshToken)
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Errorf("refresh in the grace window returned the first refresh's tokens")
	}
	// The window counts from the first use, not the latest: at 30s it is over.
	clock.Advance(time.Second)
	wantError(t, refresh(t, srv, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
	wantError(t, refresh(t, srv, first.RefreshToken), http.StatusBadRequest, "invalid_grant")
	wantError(t, refresh(t, srv, second.RefreshToken), http.StatusBadRequest, "invalid_grant")

	want := Stats{TokenRequests: 5, Refreshes: 2, RefreshFailures: 3, ReuseDetected: 1, Issued: 3}
	if diff := cmp.Diff(want, srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}
}

func TestReuseGraceBothBranchesLive(t *testing.T) {
	clock := NewClock(testStart)
	srv := NewServer(&Options{Now: clock.Now, ReuseGrace: time.Minute})
	defer srv.Close()

	tok := srv.Login()
	a := mustRefresh(t, srv, tok.RefreshToken)
	b := mustRefresh(t, srv, tok.RefreshToken)
	clock.Advance(time.Hour)
	// Both racers carry on with their own rotated tokens.
	mustRefresh(t, srv, a.RefreshToken)
	mustRefresh(t, srv, b.RefreshToken)
	if got := srv.Stats().ReuseDetected; got != 0 {
		t.Errorf("ReuseDetected = %d, want 0", got)
	}
}

func TestNoGraceWithoutOption(t *testing.T) {
	clock := NewClock(testStart)
	srv := NewServer(&Options{Now: clock.Now})
	defer srv.Close()

	tok := srv.Login()
	mustRefresh(t, srv, tok.RefreshToken)
	// Even at the same instant, and with the clock set back, a second use
	// is reuse.
	clock.Advance(-time.Second)
	wantError(t, refresh(t, srv, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
	if got := srv.Stats().ReuseDetected; got != 1 {
		t.Errorf("ReuseDetected = %d, want 1", got)
	}
}

func TestNoRotation(t *testing.T) {
	srv := NewServer(&Options{NoRotation: true})
	defer srv.Close()

	tok := srv.Login()
	var access []string
	for range 3 {
		r := mustRefresh(t, srv, tok.RefreshToken)
		if r.RefreshToken != tok.RefreshToken {
			t.Fatalf("refresh returned refresh token %q, want the same %q", r.RefreshToken, tok.RefreshToken)
		}
		access = append(access, r.AccessToken)
	}
	if access[0] == access[1] || access[1] == access[2] {
		t.Errorf("refreshes returned the same access token")
	}
	want := Stats{TokenRequests: 3, Refreshes: 3, Issued: 4}
	if diff := cmp.Diff(want, srv.Stats()); diff != "" {
		t.Errorf("Stats() mismatch (-want +got):\n%s", diff)
	}

	// Revocation still works without rotation.
	srv.RevokeFamily(tok.AccessToken)
	wantError(t, refresh(t, srv, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
}

func TestRevokeFamily(t *testing.T) {
	for _, by := range []string{"refresh", "access", "used refresh"} {
		t.Run(by, func(t *testing.T) {
			srv := NewServer(nil)
			defer srv.Close()

			tok := srv.Login()
			r := mustRefresh(t, srv, tok.RefreshToken)
			switch by {
			case "refresh":
				srv.RevokeFamily(r.RefreshToken)
			case "access":
				srv.RevokeFamily(tok.AccessToken)
			case "used refresh":
				srv.RevokeFamily(tok.RefreshToken)
			}
			wantError(t, refresh(t, srv, r.RefreshToken), http.StatusBadRequest, "invalid_grant")
			if got := srv.Stats().ReuseDetected; got != 0 {
				t.Errorf("ReuseDetected = %d after RevokeFamily, want 0", got)
			}
		})
	}
}

func TestRevokeUnknownTokenIsIgnored(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()

	tok := srv.Login()
	srv.RevokeFamily("nonsense")
	srv.ExpireAccessToken("nonsense")
	srv.RevokeAccessToken(tok.RefreshToken) // not an access token
	mustRefresh(t, srv, tok.RefreshToken)
}

func TestExpireAccessTokenKeepsRefreshToken(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()

	tok := srv.Login()
	srv.ExpireAccessToken(tok.AccessToken)
	srv.RevokeAccessToken(tok.AccessToken)
	mustRefresh(t, srv, tok.RefreshToken)
}

// TestFamilyRefreshes counts the refreshes of each login apart, whichever
// token of the family names it; a detected reuse is not a refresh.
func TestFamilyRefreshes(t *testing.T) {
	for _, rotation := range []bool{true, false} {
		srv := NewServer(&Options{NoRotation: !rotation})
		defer srv.Close()
		a, b := srv.Login(), srv.Login()
		a1 := mustRefresh(t, srv, a.RefreshToken)
		a2 := mustRefresh(t, srv, a1.RefreshToken)
		mustRefresh(t, srv, b.RefreshToken)
		if rotation {
			wantError(t, refresh(t, srv, a.RefreshToken), http.StatusBadRequest, "invalid_grant")
		}
		cc := post(t, srv, url.Values{"grant_type": {"client_credentials"}})

		for _, tc := range []struct {
			name, token string
			want        int64
		}{
			{"a's first access token", a.AccessToken, 2},
			{"a's first refresh token", a.RefreshToken, 2},
			{"a's last access token", a2.AccessToken, 2},
			{"a's last refresh token", a2.RefreshToken, 2},
			{"b's first access token", b.AccessToken, 1},
			{"a client_credentials token", cc.AccessToken, 0},
			{"an unknown token", "rt_unknown", 0},
		} {
			if got := srv.FamilyRefreshes(tc.token); got != tc.want {
				t.Errorf("rotation %v: FamilyRefreshes(%s) = %d, want %d", rotation, tc.name, got, tc.want)
			}
		}
	}
}
