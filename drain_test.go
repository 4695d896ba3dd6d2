package tokensource

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// connTrace returns a context that records the connections a request got.
func connTrace(t *testing.T) (context.Context, func() []httptrace.GotConnInfo) {
	var mu sync.Mutex
	var conns []httptrace.GotConnInfo
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, info)
	}}
	return httptrace.WithClientTrace(testContext(t), trace), func() []httptrace.GotConnInfo {
		mu.Lock()
		defer mu.Unlock()
		return append([]httptrace.GotConnInfo(nil), conns...)
	}
}

// TestTransportReusesConnection checks that the retry goes over the
// connection of the 401. The base allows a single connection per host, so
// that the retry waits for the first one instead of racing a new dial.
func TestTransportReusesConnection(t *testing.T) {
	rs := newResourceServer(t, firstToken)
	src := newReactiveSource(t, issuing(rs))
	rs.revoke(firstToken)
	base := &http.Transport{MaxConnsPerHost: 1}
	defer base.CloseIdleConnections()
	c := &http.Client{Transport: &Transport{Source: src, Base: base}}

	ctx, conns := connTrace(t)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rs.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, c, req); resp.StatusCode != http.StatusOK {
		t.Fatalf("got %s", resp.Status)
	}
	got := conns()
	if len(got) != 2 || !got[1].Reused {
		t.Errorf("connections %+v; want 2, the second reused", got)
	}
	if hits := rs.seen(); len(hits) != 2 || hits[0].remote != hits[1].remote {
		t.Errorf("server saw %+v; want 2 requests on one connection", hits)
	}
}

// TestTransportLong401Body checks that a 401 body too long to drain costs a
// new connection, and nothing else.
func TestTransportLong401Body(t *testing.T) {
	long := strings.Repeat("z", 64<<10)
	for _, chunked := range []bool{false, true} {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if hits.Add(1) == 2 && r.Header.Get("Authorization") == "Bearer at-2" {
				fmt.Fprint(w, "ok")
				return
			}
			w.Header().Set("Www-Authenticate", invalidToken)
			if !chunked {
				w.Header().Set("Content-Length", strconv.Itoa(len(long)))
			}
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, long)
		}))
		src := newReactiveSource(t, returning("at-2"))
		base := &http.Transport{MaxConnsPerHost: 1}
		c := &http.Client{Transport: &Transport{Source: src, Base: base}}
		ctx, conns := connTrace(t)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp, body := do(t, c, req); resp.StatusCode != http.StatusOK || body != "ok" {
			t.Errorf("chunked %v: got %s", chunked, resp.Status)
		}
		if got := conns(); len(got) != 2 || got[1].Reused {
			t.Errorf("chunked %v: connections %+v; want a new one for the retry", chunked, got)
		}
		base.CloseIdleConnections()
		srv.Close()
	}
}

// TestTransportStalled401Body has the server send a 401's headers and the
// start of its body, then nothing. The body is given up after a while:
// the request is sent again on another connection, or, when the refresh
// fails, the caller gets the 401 with what arrived of its body, then an
// error.
func TestTransportStalled401Body(t *testing.T) {
	for _, refreshOK := range []bool{true, false} {
		stall := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "Bearer at-2" {
				fmt.Fprint(w, "ok")
				return
			}
			w.Header().Set("Www-Authenticate", invalidToken)
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, "the start")
			w.(http.Flusher).Flush()
			select {
			case <-stall:
			case <-r.Context().Done():
			}
		}))
		src := newReactiveSource(t, func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
			if !refreshOK {
				return nil, errors.New("token endpoint down")
			}
			return &oauth2.Token{AccessToken: "at-2"}, nil
		})
		c := &http.Client{Transport: &Transport{Source: src, Base: srv.Client().Transport}}
		resp, err := c.Do(mustRequest(t, srv.URL))
		if err != nil {
			t.Fatalf("refresh ok %v: %v", refreshOK, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case refreshOK && (resp.StatusCode != http.StatusOK || string(body) != "ok" || err != nil):
			t.Errorf("got %s %q, %v; want the retry's 200", resp.Status, body, err)
		case !refreshOK && (resp.StatusCode != http.StatusUnauthorized || string(body) != "the start" || !errors.Is(err, errStalled)):
			t.Errorf("refresh failed: got %s %q, %v; want the 401, its start and errStalled", resp.Status, body, err)
		}
		close(stall)
		srv.Close()
	}
}

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

// getOver sends a GET to url and returns an error unless the response is a 200
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
