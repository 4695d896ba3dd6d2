package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// rigStart is where test clocks start: far from the real time, so that code
// reading the wrong clock fails.
var rigStart = time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)

// TestServerGoesAway stops redis-server under a running Source and starts
// it again. While it is down, requests with the valid cached token keep
// succeeding without a command to Redis; a refresh fails with an error
// naming the store and the key, and sends no token request; until its
// backoff has passed, callers get a [tokensource.BackoffError] at once,
// without a command to Redis. Once the server is back and the backoff has
// passed, the next refresh succeeds and saves, with no refresh token used
// twice. Time is driven by one clock for the Source and the token server;
// only Redis runs in real time.
func TestServerGoesAway(t *testing.T) {
	ctx := context.Background()
	redisSrv := startPrivateServer(t)
	client := clientFor(t, redisSrv.Addr)
	commands := countCommands(client)
	clock := tokensourcetest.NewClock(rigStart)
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now})
	defer srv.Close()

	store := New(client, uniqueKey(t), nil)
	login := srv.Login()
	mustSave(t, store, login)
	src := tokensource.FromConfig(ctx, srv.Config(), store, &tokensource.Options{Now: clock.Now})
	httpClient := tokensource.NewClient(ctx, src)
	if err := getMany(httpClient, srv.ResourceURL(), 1); err != nil {
		t.Fatal(err)
	}

	redisSrv.Stop()
	before := commands.Load()
	if err := getMany(httpClient, srv.ResourceURL(), 200); err != nil {
		t.Fatalf("with a valid cached token and Redis down: %v", err)
	}
	if n := commands.Load() - before; n != 0 {
		t.Errorf("requests with a valid cached token sent %d commands to Redis", n)
	}

	clock.Advance(tokensourcetest.DefaultAccessTokenLifetime) // the token expires
	_, err := src.Token()
	if err == nil {
		t.Fatal("refresh with Redis down: no error")
	}
	wantMessage(t, err, fmt.Sprintf("tokensource: load redis key %q: ", store.TokenKey()))
	wantNoToken(t, err, login)
	before = commands.Load()
	_, err = httpClient.Get(srv.ResourceURL())
	if backoff := (*tokensource.BackoffError)(nil); !errors.As(err, &backoff) {
		t.Errorf("a request during the backoff: %v, want a BackoffError", err)
	}
	wantMessage(t, err, fmt.Sprintf("tokensource: load redis key %q: ", store.TokenKey()))
	if n := commands.Load() - before; n != 0 {
		t.Errorf("a request during the backoff sent %d commands to Redis", n)
	}
	if st := srv.Stats(); st.TokenRequests != 0 {
		t.Errorf("the token server got %d requests while Redis was down", st.TokenRequests)
	}

	if err := redisSrv.Start(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute) // past the backoff
	if err := getMany(httpClient, srv.ResourceURL(), 200); err != nil {
		t.Fatalf("once Redis is back: %v", err)
	}
	st := srv.Stats()
	if st.Refreshes != 1 || st.ReuseDetected != 0 {
		t.Errorf("server stats %+v; want one refresh, no reuse", st)
	}
	stored := mustLoad(t, store)
	if stored.AccessToken == login.AccessToken || stored.RefreshToken == login.RefreshToken {
		t.Errorf("the store still holds the login token after the refresh")
	}
}

// getMany sends n GET requests to url, from up to 20 goroutines at once,
// and returns the first failure.
func getMany(c *http.Client, url string, n int) error {
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for g := range min(n, 20) {
		wg.Go(func() {
			for i := g; i < n; i += 20 {
				errs <- get(c, url)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// get sends one GET request to url and fails unless the response is 200.
func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

func wantMessage(t testing.TB, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want an error saying %q", err, want)
	}
}

// wantNoToken fails t if err quotes a value of tok.
func wantNoToken(t testing.TB, err error, tok *oauth2.Token) {
	t.Helper()
	for _, v := range []string{tok.AccessToken, tok.RefreshToken} {
		if v != "" && strings.Contains(err.Error(), v) {
			t.Errorf("error %q quotes a token value", err)
		}
	}
}
