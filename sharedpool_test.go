package tokensource

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// TestTransportFreesThe401ForTheRefresh puts the API and the token
// endpoint on one host, and has one client with a capped pool serve both,
// as the quick start does with a shared *http.Client. Over HTTP/1.1 the 401s
// must give their connections back before waiting for the refresh, or the
// refresh never gets one. Over HTTP/2 a stream ends with its response, so
// this checks only that nothing else stands in the way. Every request must
// succeed, with one refresh.
func TestTransportFreesThe401ForTheRefresh(t *testing.T) {
	for _, tc := range []struct {
		http2    bool
		limit    int // connections per host, or HTTP/2 streams
		requests int
	}{
		{false, 1, 1},
		{false, 4, 8},
		{true, 1, 1},
		{true, 4, 4},
	} {
		major := 1
		if tc.http2 {
			major = 2
		}
		t.Run(fmt.Sprintf("HTTP/%d limit %d, %d requests", major, tc.limit, tc.requests), func(t *testing.T) {
			srv := tokensourcetest.NewServer(nil)
			t.Cleanup(srv.Close)
			base, conf, api := sharedHost(t, srv, tc.http2, tc.limit)
			// All requests go out together, so that the 401s hold every
			// connection when the refresh asks for one.
			held := &gate{base: base, path: "/resource", n: tc.requests, open: make(chan struct{})}
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: held})

			tok := srv.Login()
			srv.ExpireAccessToken(tok.AccessToken)
			src := FromConfig(ctx, conf, storeWith(t, tok), nil)
			c := NewClient(ctx, src)

			var wg sync.WaitGroup
			errs := make(chan error, tc.requests)
			for range tc.requests {
				wg.Go(func() { errs <- getOver(testContext(t), c, api, major) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			if n := srv.Stats().Refreshes; n != 1 {
				t.Errorf("the server saw %d refreshes, want 1", n)
			}
			checkStats(t, src, 1, 1)
		})
	}
}

// sharedHost returns a transport to srv capped at limit connections, srv's
// Config and its resource URL. Over HTTP/2, srv is reached through a TLS
// reverse proxy allowing limit concurrent streams, over one connection that
// the transport keeps to that limit. (Go's HTTP/2 client then deadlocks when
// more requests than the limit wait for a stream, whatever the RoundTripper
// above it, so the HTTP/2 cases send no more.)
func sharedHost(t *testing.T, srv *tokensourcetest.Server, http2 bool, limit int) (*http.Transport, *oauth2.Config, string) {
	conf := srv.Config()
	if !http2 {
		tr := &http.Transport{MaxConnsPerHost: limit}
		t.Cleanup(tr.CloseIdleConnections)
		return tr, conf, srv.ResourceURL()
	}
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(u)
	upstream := &http.Transport{}
	proxy.Transport = upstream
	front := httptest.NewUnstartedServer(proxy)
	front.EnableHTTP2 = true
	front.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: limit}
	front.StartTLS()
	t.Cleanup(func() {
		front.Close()
		upstream.CloseIdleConnections()
	})
	tr := front.Client().Transport.(*http.Transport).Clone()
	tr.MaxConnsPerHost = 1
	tr.HTTP2 = &http.HTTP2Config{StrictMaxConcurrentRequests: true}
	t.Cleanup(tr.CloseIdleConnections)
	conf.Endpoint.TokenURL = front.URL + "/token"
	return tr, conf, front.URL + "/resource"
}

// getOver sends a GET to url and returns an error unless the answer is a 200
// over HTTP/major.
func getOver(ctx context.Context, c *http.Client, url string, major int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != major {
		return fmt.Errorf("got %s %s", resp.Proto, resp.Status)
	}
	return nil
}

// A gate holds the first n requests for path until all n have arrived,
// then sends them; other requests pass at once.
type gate struct {
	base    http.RoundTripper
	path    string
	n       int
	arrived atomic.Int64
	open    chan struct{}
}

func (g *gate) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Path == g.path {
		if k := g.arrived.Add(1); k == int64(g.n) {
			close(g.open)
		} else if k < int64(g.n) {
			select {
			case <-g.open:
			case <-req.Context().Done():
			}
		}
	}
	return g.base.RoundTrip(req)
}
