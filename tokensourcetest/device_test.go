package tokensourcetest

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// deviceAuth starts a device authorization at srv through x/oauth2.
func deviceAuth(t *testing.T, srv *Server) *oauth2.DeviceAuthResponse {
	t.Helper()
	da, err := srv.Config().DeviceAuth(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return da
}

// poll sends one device_code token request for da.
func poll(t *testing.T, srv *Server, da *oauth2.DeviceAuthResponse) reply {
	t.Helper()
	return post(t, srv, url.Values{"grant_type": {deviceGrantType}, "device_code": {da.DeviceCode}})
}

func TestDeviceAuthorizationResponse(t *testing.T) {
	srv := NewServer(&Options{DeviceInterval: 1500 * time.Millisecond})
	defer srv.Close()
	da := deviceAuth(t, srv)
	if !strings.HasPrefix(da.DeviceCode, "dc_") || len(da.UserCode) != 9 || da.UserCode[4] != '-' {
		t.Errorf("device code %q, user code %q", da.DeviceCode, da.UserCode)
	}
	if da.VerificationURI != srv.URL+"/device" ||
		da.VerificationURIComplete != srv.URL+"/device?user_code="+da.UserCode {
		t.Errorf("verification URIs %q, %q", da.VerificationURI, da.VerificationURIComplete)
	}
	if da.Interval != 2 {
		t.Errorf("interval %d, want 2 (1.5 s rounded up)", da.Interval)
	}
	if left := time.Until(da.Expiry); left < 9*time.Minute || left > 10*time.Minute {
		t.Errorf("expires in %v, want 10 minutes", left)
	}
	if st := srv.Stats(); st.DeviceAuthorizations != 1 {
		t.Errorf("DeviceAuthorizations = %d, want 1", st.DeviceAuthorizations)
	}
}

func TestDeviceAuthorizationClient(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	if r := postTo(t, srv.DeviceAuthURL(), url.Values{}); r.Status != http.StatusOK { // the right client, in a Basic header
		t.Errorf("with client credentials: %d %s", r.Status, r.Error)
	}
	conf := srv.Config()
	conf.ClientID = "other"
	_, err := conf.DeviceAuth(context.Background())
	wantCode(t, err, "invalid_client")
	req, _ := http.NewRequest(http.MethodPost, srv.DeviceAuthURL(), strings.NewReader("client_id=test-client&client_secret=wrong"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	wantError(t, do(t, req), http.StatusUnauthorized, "invalid_client")
	req, _ = http.NewRequest(http.MethodGet, srv.DeviceAuthURL(), nil)
	wantError(t, do(t, req), http.StatusMethodNotAllowed, "invalid_request")
}

func TestDevicePendingThenSlowDown(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	da := deviceAuth(t, srv)

	wantError(t, poll(t, srv, da), http.StatusBadRequest, "authorization_pending")
	// At once again: far sooner than the interval.
	r := poll(t, srv, da)
	wantError(t, r, http.StatusBadRequest, "slow_down")
	if !strings.Contains(r.ErrorDescription, "6s") {
		t.Errorf("slow_down says %q, want the interval widened to 6s", r.ErrorDescription)
	}
	wantError(t, poll(t, srv, da), http.StatusBadRequest, "slow_down")
	if st := srv.Stats(); st.DevicePolls != 3 || st.SlowDowns != 2 {
		t.Errorf("DevicePolls, SlowDowns = %d, %d, want 3, 2", st.DevicePolls, st.SlowDowns)
	}
}

func TestDeviceApproveAndDeny(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()

	approved := deviceAuth(t, srv)
	// Case and dashes do not matter (RFC 8628 §6.1).
	if err := srv.ApproveDevice(strings.ToLower(strings.ReplaceAll(approved.UserCode, "-", ""))); err != nil {
		t.Fatal(err)
	}
	r := poll(t, srv, approved)
	if r.Status != http.StatusOK || r.RefreshToken == "" || resourceStatus(t, srv, r.AccessToken) != http.StatusOK {
		t.Fatalf("poll after approval: %d %s, want a working token pair", r.Status, r.Error)
	}
	wantError(t, poll(t, srv, approved), http.StatusBadRequest, "invalid_grant") // used
	if err := srv.DenyDevice(approved.UserCode); err == nil {
		t.Errorf("DenyDevice after approval: no error")
	}

	denied := deviceAuth(t, srv)
	if err := srv.DenyDevice(denied.UserCode); err != nil {
		t.Fatal(err)
	}
	wantError(t, poll(t, srv, denied), http.StatusBadRequest, "access_denied")

	if err := srv.ApproveDevice("BBBB-BBBB"); err == nil {
		t.Errorf("ApproveDevice(unknown code): no error")
	}
	wantError(t, post(t, srv, url.Values{"grant_type": {deviceGrantType}, "device_code": {"dc_x"}}),
		http.StatusBadRequest, "invalid_grant")
}

func TestDeviceCodeExpires(t *testing.T) {
	clock := NewClock(testStart)
	srv := NewServer(&Options{Now: clock.Now, DeviceCodeLifetime: time.Minute})
	defer srv.Close()
	da := deviceAuth(t, srv)
	clock.Advance(time.Minute)
	if err := srv.ApproveDevice(da.UserCode); err == nil {
		t.Errorf("ApproveDevice after expiry: no error")
	}
	wantError(t, poll(t, srv, da), http.StatusBadRequest, "expired_token")
}

func TestSlowDownNext(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	first, second := deviceAuth(t, srv), deviceAuth(t, srv)
	for _, da := range []*oauth2.DeviceAuthResponse{first, second} {
		if err := srv.ApproveDevice(da.UserCode); err != nil {
			t.Fatal(err)
		}
	}
	srv.SlowDownNext(1)
	wantError(t, poll(t, srv, first), http.StatusBadRequest, "slow_down") // approved, yet told to slow down
	if r := poll(t, srv, second); r.Status != http.StatusOK {
		t.Errorf("the poll after the forced slow_down: %d %s, want a token", r.Status, r.Error)
	}
	if st := srv.Stats(); st.SlowDowns != 1 {
		t.Errorf("SlowDowns = %d, want 1", st.SlowDowns)
	}
}

func TestDeviceVerificationPage(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	get := func(u string) int {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	da := deviceAuth(t, srv)
	if got := get(da.VerificationURIComplete); got != http.StatusOK {
		t.Fatalf("verification page: %d", got)
	}
	if r := poll(t, srv, da); r.Status != http.StatusOK {
		t.Errorf("poll after the page approved: %d %s", r.Status, r.Error)
	}
	if got := get(da.VerificationURIComplete); got != http.StatusBadRequest {
		t.Errorf("the page again: %d, want 400", got)
	}
	if got := get(da.VerificationURI); got != http.StatusBadRequest {
		t.Errorf("the page without a code: %d, want 400", got)
	}

	srv.DenyConsent(true)
	da = deviceAuth(t, srv)
	get(da.VerificationURIComplete)
	wantError(t, poll(t, srv, da), http.StatusBadRequest, "access_denied")
}

func TestDeviceAccessTokenThroughOAuth2(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()
	conf := srv.Config()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ApproveDevice(da.UserCode); err != nil {
		t.Fatal(err)
	}
	tok, err := conf.DeviceAccessToken(ctx, da)
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("DeviceAccessToken: %v", err)
	}
	if st := srv.Stats(); st.DevicePolls != 1 || st.SlowDowns != 0 {
		t.Errorf("DevicePolls, SlowDowns = %d, %d, want 1, 0: a client that waits the interval is not slowed down", st.DevicePolls, st.SlowDowns)
	}
}
