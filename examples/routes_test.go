package examples_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/httptransport"
	"cloud.google.com/go/auth/oauth2adapt"
	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"google.golang.org/api/option"
	"google.golang.org/api/tasks/v1"
)

// A route is a way to give a Source to an SDK; it returns the function
// that makes one call through the SDK.
type route struct {
	name   string
	reacts bool // to a 401, and not only to expiry
	open   func(t *testing.T, src *tokensource.Source, api string) func() error
}

var routes = []route{
	{"google.golang.org/api, option.WithTokenSource(src)", false, func(t *testing.T, src *tokensource.Source, api string) func() error {
		return tasksCall(t, option.WithTokenSource(src), option.WithEndpoint(api+"/"))
	}},
	{"google.golang.org/api, option.WithHTTPClient(tokensource.NewClient(ctx, src))", true, func(t *testing.T, src *tokensource.Source, api string) func() error {
		return tasksCall(t, option.WithHTTPClient(tokensource.NewClient(t.Context(), src)), option.WithEndpoint(api+"/"))
	}},
	{"cloud.google.com/go/auth httptransport, the Source as TokenProvider", false, func(t *testing.T, src *tokensource.Source, api string) func() error {
		creds := auth.NewCredentials(&auth.CredentialsOptions{TokenProvider: oauth2adapt.TokenProviderFromTokenSource(src)})
		return getCall(t, &httptransport.Options{Credentials: creds}, api)
	}},
	{"cloud.google.com/go/auth httptransport, BaseRoundTripper: &tokensource.Transport{Source: src}", true, func(t *testing.T, src *tokensource.Source, api string) func() error {
		return getCall(t, &httptransport.Options{DisableAuthentication: true, BaseRoundTripper: &tokensource.Transport{Source: src}}, api)
	}},
}

// tasksCall lists task lists with a tasks client made with opts.
func tasksCall(t *testing.T, opts ...option.ClientOption) func() error {
	svc, err := tasks.NewService(t.Context(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return func() error {
		_, err := svc.Tasklists.List().Context(t.Context()).Do()
		return err
	}
}

// getCall GETs url with an httptransport client made with opts.
func getCall(t *testing.T, opts *httptransport.Options, url string) func() error {
	client, err := httptransport.NewClient(opts)
	if err != nil {
		t.Fatal(err)
	}
	return func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET: %s", resp.Status)
		}
		return nil
	}
}

// setUp returns a tokensourcetest server with one-hour tokens and a Source
// with a logged-in token, and makes one call through r, which succeeds.
func setUp(t *testing.T, r route) (*tokensourcetest.Server, *tokensource.Source, func() error) {
	srv := tokensourcetest.NewServer(nil)
	t.Cleanup(srv.Close)
	src, err := loggedIn(srv)
	if err != nil {
		t.Fatal(err)
	}
	call := r.open(t, src, srv.ResourceURL())
	if err := call(); err != nil {
		t.Fatalf("first call: %v", err)
	}
	return srv, src, call
}

// The calls after a revocation, by route, from 16 goroutines: the routes
// through tokensource.Transport recover with one refresh; through the
// others, every call fails until the token expires (an hour here). The
// figures are those of the README's table of routes.
func TestRoutesAfterRevocation(t *testing.T) {
	const workers, each = 16, 20
	for _, r := range routes {
		t.Run(r.name, func(t *testing.T) {
			srv, src, call := setUp(t, r)
			if err := revoke(srv, src); err != nil {
				t.Fatal(err)
			}

			var failed atomic.Int64
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for range each {
						if call() != nil {
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			refreshes := src.Stats().Refreshes
			t.Logf("%s: %d of %d calls failed after the revocation, %d refreshes", r.name, failed.Load(), workers*each, refreshes)
			wantFailed, wantRefreshes := int64(workers*each), int64(0)
			if r.reacts {
				wantFailed, wantRefreshes = 0, 1
			}
			if failed.Load() != wantFailed || refreshes != wantRefreshes {
				t.Errorf("failed calls, refreshes = %d, %d; want %d, %d", failed.Load(), refreshes, wantFailed, wantRefreshes)
			}
		})
	}
}

// The routes that take the Source as a token source keep a token cache of
// their own in front of it: after Source.Invalidate, they still send the
// revoked token. (option.WithTokenSource goes through the same
// cloud.google.com/go/auth cache, auth.NewCachedTokenProvider.)
func TestSDKTokenCacheHidesInvalidate(t *testing.T) {
	for _, r := range routes {
		if r.reacts {
			continue
		}
		t.Run(r.name, func(t *testing.T) {
			srv, src, call := setUp(t, r)
			tok, err := src.Token()
			if err != nil {
				t.Fatal(err)
			}
			srv.RevokeAccessToken(tok.AccessToken)
			src.Invalidate(tok)
			if err := call(); err == nil {
				t.Errorf("call after Invalidate succeeded; want the cached, revoked token to fail")
			}
			if n := src.Stats().Refreshes; n != 0 {
				t.Errorf("Refreshes = %d; want 0: the SDK did not ask the Source", n)
			}
		})
	}
}
