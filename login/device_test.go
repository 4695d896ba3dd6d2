package login_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/tokensource/login"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// pollTimes returns a ctx whose oauth2.HTTPClient reports the time of each
// device poll on the returned channel, when it is sent.
func pollTimes(ctx context.Context) (context.Context, <-chan time.Time) {
	polls := make(chan time.Time, 16)
	c := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == "/token" {
			polls <- time.Now()
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	return context.WithValue(ctx, oauth2.HTTPClient, c), polls
}

// approver is a prompt that approves the user code at srv, and counts its
// calls.
type approver struct {
	srv   *tokensourcetest.Server
	mu    sync.Mutex
	calls int
	deny  bool
}

func (a *approver) prompt(_ context.Context, da *oauth2.DeviceAuthResponse) error {
	a.mu.Lock()
	a.calls++
	a.mu.Unlock()
	if da.UserCode == "" || !strings.HasPrefix(da.VerificationURI, a.srv.URL) {
		return errors.New("no user code or verification URI to show")
	}
	if a.deny {
		return a.srv.DenyDevice(da.UserCode)
	}
	return a.srv.ApproveDevice(da.UserCode)
}

func TestDeviceLogin(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	a := &approver{srv: srv}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	tok, err := login.Device(srv.Config(), a.prompt)(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !resourceOK(t, srv, tok) || tok.RefreshToken == "" {
		t.Errorf("the device login's token does not work, or has no refresh token")
	}
	if st := srv.Stats(); a.calls != 1 || st.DeviceAuthorizations != 1 || st.DevicePolls != 1 {
		t.Errorf("prompt calls, device codes, polls = %d, %d, %d, want 1, 1, 1", a.calls, st.DeviceAuthorizations, st.DevicePolls)
	}
}

func TestDeviceSlowDownWidensTheInterval(t *testing.T) {
	srv := tokensourcetest.NewServer(nil) // interval 1 s
	defer srv.Close()
	srv.SlowDownNext(1)
	ctx, polls := pollTimes(context.Background())
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	if _, err := login.Device(srv.Config(), (&approver{srv: srv}).prompt)(ctx); err != nil {
		t.Fatal(err)
	}
	first, second := <-polls, <-polls
	// 1 s + 5 s after slow_down; the server would answer slow_down again
	// to a poll sooner than half of that.
	if gap := second.Sub(first); gap < 5500*time.Millisecond {
		t.Errorf("polls %v apart after slow_down, want about 6 s", gap)
	}
	if st := srv.Stats(); st.DevicePolls != 2 || st.SlowDowns != 1 {
		t.Errorf("DevicePolls, SlowDowns = %d, %d, want 2, 1", st.DevicePolls, st.SlowDowns)
	}
}

func TestDeviceCancelStopsPolling(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx, polls := pollTimes(context.Background())
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	never := func(context.Context, *oauth2.DeviceAuthResponse) error { return nil } // the user never approves

	done := make(chan error, 1)
	go func() {
		_, err := login.Device(srv.Config(), never)(ctx)
		done <- err
	}()
	select {
	case <-polls:
	case <-time.After(10 * time.Second):
		t.Fatal("no poll within 10 s")
	}
	// The poll was sent; the server counts it once it reads it. Counted
	// after the login returned, it would look like a poll too many.
	for deadline := time.Now().Add(5 * time.Second); srv.Stats().DevicePolls == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the server did not count the poll within 5 s")
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the login did not return within 5 s of the cancel")
	}
	// The login returned: nothing may poll any more. Three intervals show it.
	before := srv.Stats().DevicePolls
	time.Sleep(3 * time.Second)
	if after := srv.Stats().DevicePolls; after != before || before > 2 {
		t.Errorf("polls: %d when the login returned, %d three intervals later", before, after)
	}
}

func TestDeviceDenied(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := login.Device(srv.Config(), (&approver{srv: srv, deny: true}).prompt)(ctx)
	var re *oauth2.RetrieveError
	if tok != nil || !errors.As(err, &re) || re.ErrorCode != "access_denied" {
		t.Errorf("got %v, %v; want no token and access_denied", tok, err)
	}
}

func TestDeviceCodeExpires(t *testing.T) {
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{DeviceCodeLifetime: 2 * time.Second})
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	never := func(context.Context, *oauth2.DeviceAuthResponse) error { return nil }
	_, err := login.Device(srv.Config(), never)(ctx)
	if err == nil || !strings.Contains(err.Error(), "expired") {
		t.Errorf("err = %v, want the user code expired", err)
	}
}

func TestDevicePromptErrorEndsBeforePolling(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	boom := errors.New("no terminal")
	_, err := login.Device(srv.Config(), func(context.Context, *oauth2.DeviceAuthResponse) error { return boom })(context.Background())
	if !errors.Is(err, boom) {
		t.Errorf("err = %v, want the prompt's", err)
	}
	if st := srv.Stats(); st.DevicePolls != 0 {
		t.Errorf("DevicePolls = %d, want 0", st.DevicePolls)
	}
}

func TestDeviceErrorsQuoteNoSecret(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	conf := srv.Config()
	conf.ClientID = "unknown"
	_, err := login.Device(conf, nil)(context.Background())
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
		t.Fatalf("err = %v, want invalid_client", err)
	}
	if strings.Contains(err.Error(), "{") || strings.Contains(err.Error(), url.QueryEscape(conf.ClientSecret)) {
		t.Errorf("the error shows the body or a secret: %q", err)
	}
}
