package tokensource_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/login"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// The quick start: the user's token lives in a file, and an HTTP client
// refreshes it when it expires and when the API rejects it.
func Example() {
	// The provider: a tokensourcetest server here, yours in production.
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	dir, err := os.MkdirTemp("", "tokensource-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	conf := srv.Config() // your *oauth2.Config
	store := tokensource.NewFileStore(filepath.Join(dir, "token.json"))

	// Once, when the user logs in (conf.Exchange after the redirect, a
	// device flow...): save the token where the Source will find it.
	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}

	src := tokensource.FromConfig(ctx, conf, store, nil)
	defer src.Wait(ctx) // before exiting, let a background refresh save its token
	client := tokensource.NewClient(ctx, src)

	resp, err := client.Get(srv.ResourceURL())
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)

	// The server rejects the token before its expiry: the client refreshes
	// it and sends the request once more.
	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}
	srv.RevokeAccessToken(tok.AccessToken)
	resp, err = client.Get(srv.ResourceURL())
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status, "after 1 refresh:", src.Stats().Refreshes == 1)
	// Output:
	// 200 OK
	// 200 OK after 1 refresh: true
}

// A rotated refresh token survives a restart: the first run refreshes and
// saves the new pair; the next run starts from the file, without a login,
// and its refresh presents the refresh token the server expects.
func ExampleFromConfig() {
	clock := tokensourcetest.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	// One-hour access tokens, a new refresh token at every refresh, and a
	// refresh token presented twice revokes them all.
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now})
	defer srv.Close()
	dir, err := os.MkdirTemp("", "tokensource-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "token.json")
	ctx := context.Background()
	opts := &tokensource.Options{Now: clock.Now}

	if err := tokensource.NewFileStore(path).Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}

	// The first run works for an hour, and refreshes.
	first := tokensource.FromConfig(ctx, srv.Config(), tokensource.NewFileStore(path), opts)
	if _, err := first.Token(); err != nil {
		log.Fatal(err)
	}
	clock.Advance(time.Hour)
	tok, err := first.Token()
	if err != nil {
		log.Fatal(err)
	}
	st := first.Stats()
	fmt.Printf("first run: refreshes %d, saves %d\n", st.Refreshes, st.Saves)

	// The program restarts.
	second := tokensource.FromConfig(ctx, srv.Config(), tokensource.NewFileStore(path), opts)
	again, err := second.Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("second run: refreshes %d, same token %t\n", second.Stats().Refreshes, again.AccessToken == tok.AccessToken)

	clock.Advance(time.Hour)
	if _, err := second.Token(); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("server: refreshes %d, reuse detected %d\n", srv.Stats().Refreshes, srv.Stats().ReuseDetected)
	// Output:
	// first run: refreshes 1, saves 1
	// second run: refreshes 0, same token true
	// server: refreshes 2, reuse detected 0
}

// A refresh sends one token request, even with AuthStyleAutoDetect, so a
// response lost on the way is not followed at once by a second request with
// the same refresh token, which a server with reuse detection would treat
// as a replay. The next attempt comes after the backoff, and can only
// present the same refresh token: a server with a reuse grace period, like
// this one, accepts it; a strict one responds invalid_grant, and the Source
// returns ErrReauthRequired.
func ExampleFromConfig_lostResponse() {
	clock := tokensourcetest.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now, ReuseGrace: 30 * time.Second})
	defer srv.Close()
	ctx := context.Background()
	conf := srv.Config()
	conf.Endpoint.AuthStyle = oauth2.AuthStyleAutoDetect

	store := tokensource.NewMemoryStore()
	// Only a refresh token: the Source must refresh before the first use.
	if err := store.Save(ctx, &oauth2.Token{RefreshToken: srv.Login().RefreshToken}); err != nil {
		log.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, conf, store, &tokensource.Options{Now: clock.Now})

	srv.FailNext(1, tokensourcetest.FaultLoseResponse)
	_, err := src.Token()
	fmt.Printf("first refresh failed: %t, token requests: %d\n", err != nil, srv.Stats().TokenRequests)

	clock.Advance(2 * time.Second) // past the backoff
	_, err = src.Token()
	st := srv.Stats()
	fmt.Printf("next attempt failed: %t, token requests: %d, reuse detected: %d\n", err != nil, st.TokenRequests, st.ReuseDetected)
	// Output:
	// first refresh failed: true, token requests: 1
	// next attempt failed: false, token requests: 2, reuse detected: 0
}

// A Source is an oauth2.TokenSource, so it goes wherever one does:
// oauth2.NewClient, cloud SDKs, code that calls Token. But oauth2.NewClient
// keeps its own copy of the token and does not react to a 401: a token the
// server rejects before its expiry is sent until it expires.
// tokensource.NewClient recovers.
func Example_oauth2NewClient() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx := context.Background()
	store := tokensource.NewMemoryStore()
	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), store, nil)

	get := func(name string, c *http.Client) {
		resp, err := c.Get(srv.ResourceURL())
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(name, resp.Status)
	}
	client := oauth2.NewClient(ctx, src)
	get("oauth2.NewClient:", client)

	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}
	srv.RevokeAccessToken(tok.AccessToken)
	get("after the revocation, oauth2.NewClient:", client)
	get("after the revocation, tokensource.NewClient:", tokensource.NewClient(ctx, src))
	// Output:
	// oauth2.NewClient: 200 OK
	// after the revocation, oauth2.NewClient: 401 Unauthorized
	// after the revocation, tokensource.NewClient: 200 OK
}

// Client credentials have no user and no refresh token: the RefreshFunc
// fetches a new token each time, and ignores current (nil when nothing was
// stored). The Source still fetches one token at a time for all callers,
// and a new one when the API rejects the current one.
func ExampleNew_clientCredentials() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	cc := srv.ClientCredentials() // a *clientcredentials.Config

	src := tokensource.New(func(ctx context.Context, _ *oauth2.Token) (*oauth2.Token, error) {
		return cc.Token(ctx)
	}, nil, nil) // a nil Store is a MemoryStore
	client := tokensource.NewClient(context.Background(), src)

	var wg sync.WaitGroup
	var ok atomic.Int64
	for range 10 {
		wg.Go(func() {
			resp, err := client.Get(srv.ResourceURL())
			if err != nil {
				log.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	fmt.Printf("%d requests ok, token requests: %d\n", ok.Load(), srv.Stats().TokenRequests)

	// The server revokes the token: the next request gets a new one.
	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}
	srv.RevokeAccessToken(tok.AccessToken)
	resp, err := client.Get(srv.ResourceURL())
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Printf("after a revocation: %s, token requests: %d\n", resp.Status, srv.Stats().TokenRequests)
	// Output:
	// 10 requests ok, token requests: 1
	// after a revocation: 200 OK, token requests: 2
}

// A MemoryStore keeps the token for the life of the process: enough when a
// new process can get a token without the user, and in tests. Refresh
// forces a refresh; the new token is in the store when it returns.
func ExampleNewMemoryStore() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx := context.Background()

	store := tokensource.NewMemoryStore()
	_, err := store.Load(ctx)
	fmt.Println("empty:", errors.Is(err, tokensource.ErrNotFound))

	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), store, nil)
	tok, err := src.Refresh(ctx)
	if err != nil {
		log.Fatal(err)
	}
	saved, err := store.Load(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the store holds the new token:", saved.AccessToken == tok.AccessToken)
	// Output:
	// empty: true
	// the store holds the new token: true
}

// secretStore is a Store on a secret manager, or a database row: anything
// that can keep a blob under a name. Here a map stands in for it.
type secretStore struct {
	mu      sync.Mutex
	secrets map[string][]byte
	name    string
}

func (s *secretStore) Load(ctx context.Context) (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, ok := s.secrets[s.name]
	if !ok {
		return nil, tokensource.ErrNotFound
	}
	tok := new(oauth2.Token)
	if err := json.Unmarshal(data, tok); err != nil {
		return nil, fmt.Errorf("secret %s: %w", s.name, err) // never quote data: it holds a token
	}
	return tok, nil
}

func (s *secretStore) Save(ctx context.Context, tok *oauth2.Token) error {
	data, err := json.Marshal(tok)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[s.name] = data
	return nil
}

// A Store of your own needs Load and Save. If several processes share it,
// give it a Lock method too (a Locker: a row lock, a lease), so that they
// refresh one at a time.
func Example_customStore() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx := context.Background()

	store := &secretStore{secrets: map[string][]byte{}, name: "billing-api/token"}
	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), store, nil)
	if _, err := src.Refresh(ctx); err != nil {
		log.Fatal(err)
	}
	resp, err := tokensource.NewClient(ctx, src).Get(srv.ResourceURL())
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status, "saves:", src.Stats().Saves)
	// Output:
	// 200 OK saves: 1
}

// Code that uses tokens outside NewClient (a gRPC stream, a websocket, a
// message queue) reports a rejected token with Invalidate; the next Token
// refreshes. Reporting the same rejection again does nothing, so any number
// of failed calls cause one refresh.
func ExampleSource_Invalidate() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx := context.Background()
	store := tokensource.NewMemoryStore()
	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), store, nil)

	call := func(tok *oauth2.Token) int {
		req, err := http.NewRequest(http.MethodGet, srv.ResourceURL(), nil)
		if err != nil {
			log.Fatal(err)
		}
		tok.SetAuthHeader(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}
	srv.RevokeAccessToken(tok.AccessToken)
	fmt.Println("with the revoked token:", call(tok))

	src.Invalidate(tok)
	src.Invalidate(tok)
	tok, err = src.Token()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after Invalidate:", call(tok))
	st := src.Stats()
	fmt.Printf("invalidations %d, refreshes %d\n", st.Invalidations, st.Refreshes)
	// Output:
	// with the revoked token: 401
	// after Invalidate: 200
	// invalidations 1, refreshes 1
}

// With Options.Login, a Source logs the user in itself when no grant is
// usable: nothing stored, the refresh token refused, a log-out. However
// many Sources and processes share the store, one logs in, under its lock,
// and the others adopt the token it saved. Here the browser is scripted; a
// real program passes nil BrowserOptions, and the system browser opens.
func Example_login() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx := context.Background()
	conf := srv.Config()
	src := tokensource.FromConfig(ctx, conf, tokensource.NewMemoryStore(), &tokensource.Options{
		Login: login.Browser(conf, &login.BrowserOptions{Open: scriptedBrowser}),
	})
	client := tokensource.NewClient(ctx, src)
	get := func() {
		resp, err := client.Get(srv.ResourceURL())
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(resp.Status)
	}

	get() // nothing stored: the Source logs in first

	// An administrator ends the session: the access token is rejected, and
	// so is the refresh token. The Source logs in again, and the request
	// is sent once more.
	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}
	srv.RevokeFamily(tok.RefreshToken)
	get()
	fmt.Println("logins:", src.Stats().Logins)
	// Output:
	// 200 OK
	// 200 OK
	// logins: 2
}

// Logout revokes the grant at the server (RFC 7009) and leaves a tombstone
// in the store, which stops every Source of the grant, in any process.
func ExampleSource_Logout() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx := context.Background()
	store := tokensource.NewMemoryStore()
	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), store, &tokensource.Options{RevocationURL: srv.RevocationURL()})
	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}

	if err := src.Logout(ctx); err != nil {
		log.Fatal(err) // the server was not told, say; the log-out is done here all the same
	}
	fmt.Println("revoked at the server:", srv.Revoked(tok.RefreshToken))
	_, err = store.Load(ctx)
	fmt.Println("the store:", err)
	_, err = src.Token()
	fmt.Println("re-authentication required:", errors.Is(err, tokensource.ErrReauthRequired))
	// Output:
	// revoked at the server: true
	// the store: tokensource: load memory store: logged out
	// re-authentication required: true
}

// scriptedBrowser stands in for the user's browser: it follows the
// authorization URL, through the test server's scripted approval, to the
// login's loopback redirect.
func scriptedBrowser(authURL string) error {
	resp, err := http.Get(authURL)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// A token endpoint's error response is an *EndpointError, which errors.As also
// finds as an *oauth2.RetrieveError. Its message gives the status, the error
// code and the description, and never quotes the response body.
func ExampleEndpointError() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx := context.Background()
	store := tokensource.NewMemoryStore()
	if err := store.Save(ctx, &oauth2.Token{RefreshToken: srv.Login().RefreshToken}); err != nil {
		log.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), store, nil)

	srv.FailNext(1, tokensourcetest.FaultServerError)
	_, err := src.Token()
	fmt.Println(err)
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		fmt.Println("error code:", re.ErrorCode)
	}
	// Output:
	// requesting a token: tokensource: token endpoint responded 500 Internal Server Error: server_error: injected fault: server error
	// error code: server_error
}

// fullDisk is a Store whose Save fails while full is set.
type fullDisk struct {
	tokensource.Store
	full atomic.Bool
}

func (d *fullDisk) Save(ctx context.Context, tok *oauth2.Token) error {
	if d.full.Load() {
		return errors.New("no space left on device")
	}
	return d.Store.Save(ctx, tok)
}

// When a Save fails, the new token is still returned and used: the Source
// keeps it in memory, logs and counts the failure, and saves it again
// before its next refresh, so the refresh token the server expects reaches
// the store.
func Example_diskFull() {
	clock := tokensourcetest.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now})
	defer srv.Close()
	ctx := context.Background()
	disk := &fullDisk{Store: tokensource.NewMemoryStore()}
	if err := disk.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), disk, &tokensource.Options{Now: clock.Now})
	if _, err := src.Token(); err != nil {
		log.Fatal(err)
	}

	disk.full.Store(true)
	clock.Advance(time.Hour)
	_, err := src.Token()
	fmt.Printf("refreshed: %t, save errors: %d\n", err == nil, src.Stats().SaveErrors)

	disk.full.Store(false)
	clock.Advance(time.Hour)
	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}
	saved, err := disk.Load(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("refreshed again; store up to date: %t, saves: %d, reuse detected: %d\n",
		saved.AccessToken == tok.AccessToken, src.Stats().Saves, srv.Stats().ReuseDetected)
	// Output:
	// refreshed: true, save errors: 1
	// refreshed again; store up to date: true, saves: 2, reuse detected: 0
}

// Code that calls Invalidate when a server rejects a token calls Confirm
// when a server accepts one, as Transport does. A token that worked and is
// then rejected was revoked: it costs one refresh. So does a new token
// rejected before it ever worked; but when the token after it is rejected
// before it works too, that is a failed refresh: the Source backs off, so
// that a server that rejects every token does not cost a refresh per
// request.
func ExampleSource_Confirm() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx := context.Background()
	store := tokensource.NewMemoryStore()
	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), store, nil)

	// call sends a request with a token from src, and tells src what the
	// server made of it.
	call := func() string {
		tok, err := src.TokenContext(ctx)
		var be *tokensource.BackoffError
		if errors.As(err, &be) {
			return "no token: backing off"
		} else if err != nil {
			log.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodGet, srv.ResourceURL(), nil)
		if err != nil {
			log.Fatal(err)
		}
		tok.SetAuthHeader(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			src.Invalidate(tok)
		} else {
			src.Confirm(tok)
		}
		return resp.Status
	}
	revokeCurrent := func() {
		tok, err := src.TokenContext(ctx)
		if err != nil {
			log.Fatal(err)
		}
		srv.RevokeAccessToken(tok.AccessToken)
	}

	refresh := func() {
		if _, err := src.Refresh(ctx); err != nil {
			log.Fatal(err)
		}
	}

	refresh()
	fmt.Println("new token:", call())
	revokeCurrent() // after it worked
	fmt.Println("revoked:", call())
	fmt.Println("next:", call())

	refresh()
	revokeCurrent() // before it ever worked
	fmt.Println("revoked:", call())
	revokeCurrent() // the next one too, before it ever worked
	fmt.Println("revoked:", call())
	fmt.Println("next:", call())
	st := src.Stats()
	fmt.Printf("refreshes %d, failed %d\n", st.Refreshes, st.RefreshErrors)
	// Output:
	// new token: 200 OK
	// revoked: 401 Unauthorized
	// next: 200 OK
	// revoked: 401 Unauthorized
	// revoked: 401 Unauthorized
	// next: no token: backing off
	// refreshes 4, failed 1
}

// Log-out deletes the token file under its lock, so that a refresh running
// in any process cannot write the token back. A Source keeps its cached
// token until it needs the store again; then it finds nothing to refresh
// with.
func ExampleFileStore_Delete() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	dir, err := os.MkdirTemp("", "tokensource-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store := tokensource.NewFileStore(filepath.Join(dir, "token.json"))
	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), store, nil)
	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}

	if err := store.Delete(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = src.Token()
	fmt.Println("cached token still served:", err == nil)
	src.Invalidate(tok) // a server rejected it: the Source loads the store
	_, err = src.Token()
	fmt.Println("re-authentication required:", errors.Is(err, tokensource.ErrReauthRequired))
	// Output:
	// cached token still served: true
	// re-authentication required: true
}

// A backend that calls an API for many accounts keeps one Source per
// account in a Pool, each on the account's own store: here a MemoryStore
// per account, in production the account's key in a database that every
// replica shares (a Store that is a Locker, so that the replicas refresh one
// at a time).
func ExamplePool() {
	clock := tokensourcetest.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now})
	defer srv.Close()
	ctx := context.Background()
	conf := srv.Config()

	// The accounts' tokens, saved when each customer connected the API.
	stores := map[string]*tokensource.MemoryStore{}
	for _, account := range []string{"acme", "globex"} {
		stores[account] = tokensource.NewMemoryStore()
		if err := stores[account].Save(ctx, srv.Login()); err != nil {
			log.Fatal(err)
		}
	}
	pool := tokensource.NewPool(func(account string) *tokensource.Source {
		return tokensource.FromConfig(ctx, conf, stores[account], &tokensource.Options{Now: clock.Now})
	}, &tokensource.PoolOptions{IdleTimeout: 24 * time.Hour, Now: clock.Now})

	// call is what a request handler does for an account: Get its Source
	// for each use.
	call := func(account string) {
		resp, err := tokensource.NewClient(ctx, pool.Get(account)).Get(srv.ResourceURL())
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(account, resp.Status)
	}
	call("acme")
	call("globex")
	clock.Advance(2 * time.Hour) // both tokens expire: each account refreshes its own
	call("acme")
	call("globex")
	fmt.Println("refreshes:", srv.Stats().Refreshes)

	// globex disconnects: its token leaves the store, and its Source the Pool.
	if err := stores["globex"].Save(ctx, nil); err != nil {
		log.Fatal(err)
	}
	pool.Delete("globex")
	_, err := pool.Get("globex").Token()
	fmt.Println("globex must log in again:", errors.Is(err, tokensource.ErrReauthRequired))
	// Output:
	// acme 200 OK
	// globex 200 OK
	// acme 200 OK
	// globex 200 OK
	// refreshes: 2
	// globex must log in again: true
}
