package tokensource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

const (
	rejectBody      = "token rejected"
	invalidToken    = `Bearer realm="test", error="invalid_token"`
	firstToken      = "at-1"
	firstRefreshTok = "rt-1"
)

// hit is one request as a test server saw it.
type hit struct {
	path, auth, remote string // auth: every Authorization value, joined by " | "
}

// resourceServer is an API that accepts the access tokens in its valid set
// and responds to any other with a 401 and the challenge in reject. It reads
// every request body, and counts those that differ from wantBody(?i=...).
type resourceServer struct {
	*httptest.Server

	mu        sync.Mutex
	reject    []string // WWW-Authenticate values of a 401
	before401 func()   // if set, runs before each 401 is written
	valid     map[string]bool
	hits      []hit
	badBody   int
	rejected  int
}

func newResourceServer(t *testing.T, valid ...string) *resourceServer {
	rs := &resourceServer{reject: []string{invalidToken}, valid: map[string]bool{}}
	for _, v := range valid {
		rs.valid[v] = true
	}
	rs.Server = httptest.NewServer(http.HandlerFunc(rs.serve))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *resourceServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	auth := strings.Join(r.Header.Values("Authorization"), " | ")
	rs.mu.Lock()
	rs.hits = append(rs.hits, hit{r.URL.Path, auth, r.RemoteAddr})
	if i := r.URL.Query().Get("i"); i != "" && string(body) != wantBody(i) {
		rs.badBody++
	}
	ok := rs.valid[strings.TrimPrefix(auth, "Bearer ")]
	if !ok {
		rs.rejected++
	}
	before401, reject := rs.before401, rs.reject
	rs.mu.Unlock()
	if ok {
		fmt.Fprint(w, "ok")
		return
	}
	if before401 != nil {
		before401()
	}
	w.Header()["Www-Authenticate"] = reject
	w.WriteHeader(http.StatusUnauthorized)
	fmt.Fprint(w, rejectBody)
}

func (rs *resourceServer) allow(tok string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.valid[tok] = true
}

func (rs *resourceServer) revoke(tok string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	delete(rs.valid, tok)
}

// set changes the server's behaviour under its lock.
func (rs *resourceServer) set(f func(rs *resourceServer)) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	f(rs)
}

// counts returns how many requests the server rejected, and how many
// arrived with a damaged body.
func (rs *resourceServer) counts() (rejected, badBody int) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.rejected, rs.badBody
}

func (rs *resourceServer) seen() []hit {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return append([]hit(nil), rs.hits...)
}

// wantBody is the body a request with ?i=i carries: different lengths,
// some longer than a TCP segment.
func wantBody(i string) string {
	n, _ := strconv.Atoi(i)
	return "body-" + i + "-" + strings.Repeat("x", n*53)
}

// newReactiveSource returns a Source whose store holds firstToken, already loaded,
// and whose RefreshFunc is refresh.
func newReactiveSource(t *testing.T, refresh RefreshFunc) *Source {
	t.Helper()
	store := NewMemoryStore()
	first := &oauth2.Token{AccessToken: firstToken, RefreshToken: firstRefreshTok, Expiry: time.Now().Add(time.Hour)}
	if err := store.Save(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	src := New(refresh, store, nil)
	if tok, err := src.TokenContext(testContext(t)); err != nil || tok.AccessToken != firstToken {
		t.Fatalf("loading the first token: %v", err)
	}
	return src
}

// issuing returns a RefreshFunc that issues at-2, at-3... and makes rs
// accept each.
func issuing(rs *resourceServer) RefreshFunc {
	var n atomic.Int64
	return func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		tok := "at-" + strconv.FormatInt(n.Add(1)+1, 10)
		rs.allow(tok)
		return &oauth2.Token{AccessToken: tok, Expiry: time.Now().Add(time.Hour)}, nil
	}
}

// returning returns a RefreshFunc that returns a token with the access
// token access.
func returning(access string) RefreshFunc {
	return func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: access}, nil
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	t.Cleanup(cancel)
	return ctx
}

// client returns an http.Client whose Transport uses src over rs's own
// connection pool.
func client(rs *resourceServer, src *Source) *http.Client {
	return &http.Client{Transport: &Transport{Source: src, Base: rs.Client().Transport}}
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	return do(t, c, mustRequest(t, url))
}

// do sends req and returns the response and its body.
func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body of a %s: %v", resp.Status, err)
	}
	return resp, string(body)
}

func checkStats(t *testing.T, src *Source, refreshes, invalidations int64) {
	t.Helper()
	st := src.Stats()
	if st.Refreshes != refreshes || st.Invalidations != invalidations {
		t.Errorf("Refreshes, Invalidations = %d, %d; want %d, %d", st.Refreshes, st.Invalidations, refreshes, invalidations)
	}
}

func auths(hits []hit) []string {
	var a []string
	for _, h := range hits {
		a = append(a, h.auth)
	}
	return a
}

// trackedBody is a request body that records its Close.
type trackedBody struct {
	io.Reader
	closed chan struct{}
	once   sync.Once
}

func newTrackedBody(s string) *trackedBody {
	return &trackedBody{Reader: strings.NewReader(s), closed: make(chan struct{})}
}

func (b *trackedBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// waitClosed fails unless b is closed, perhaps by another goroutine as
// http.RoundTripper allows, within the bound.
func (b *trackedBody) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-b.closed:
	case <-time.After(wait):
		t.Error("the request body was not closed")
	}
}

func TestTransportAddsTokenAndLeavesRequestAlone(t *testing.T) {
	rs := newResourceServer(t, firstToken)
	src := newReactiveSource(t, issuing(rs))
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, rs.URL+"/r", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	req.Header["X-Nil"] = nil
	before := req.Header.Clone()

	resp, body := do(t, client(rs, src), req)
	if resp.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("got %s %q", resp.Status, body)
	}
	if got := auths(rs.seen()); !reflect.DeepEqual(got, []string{"Bearer " + firstToken}) {
		t.Errorf("server saw Authorization %q", got)
	}
	if !reflect.DeepEqual(req.Header, before) {
		t.Errorf("the caller's header changed: %v, was %v", req.Header, before)
	}
	if resp.Request == req {
		t.Error("the caller's request was sent, not a copy")
	}
	checkStats(t, src, 0, 0)
}

// TestTransportConcurrent401 revokes the current token under 100 requests
// in flight: all of them are rejected, one refresh replaces the token, and
// every request is sent again with its body intact.
func TestTransportConcurrent401(t *testing.T) {
	const n = 100
	rs := newResourceServer(t, firstToken)
	src := newReactiveSource(t, issuing(rs))
	rs.revoke(firstToken)

	// Hold every 401 until all n requests were rejected, so that all of
	// them go out with the revoked token.
	var rejected atomic.Int32
	allRejected := make(chan struct{})
	rs.set(func(rs *resourceServer) {
		rs.before401 = func() {
			if rejected.Add(1) == n {
				close(allRejected)
			}
			select {
			case <-allRejected:
			case <-time.After(wait):
			}
		}
	})

	c := client(rs, src)
	ctx := testContext(t)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			is := strconv.Itoa(i)
			var body io.Reader = strings.NewReader(wantBody(is))
			if i%2 == 0 {
				body = bytes.NewReader([]byte(wantBody(is)))
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, rs.URL+"/post?i="+is, body)
			if err != nil {
				errs <- err
				return
			}
			resp, err := c.Do(req)
			if err != nil {
				errs <- err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				errs <- fmt.Errorf("request %d: %s", i, resp.Status)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	hits := rs.seen()
	rejectedN, badBody := rs.counts()
	if len(hits) != 2*n || rejectedN != n {
		t.Errorf("server saw %d requests, rejected %d; want %d, %d", len(hits), rejectedN, 2*n, n)
	}
	if badBody != 0 {
		t.Errorf("%d request bodies arrived damaged", badBody)
	}
	checkStats(t, src, 1, 1)
}

func TestTransportRetriesOnlyOnce(t *testing.T) {
	rs := newResourceServer(t) // accepts no token at all
	var n atomic.Int64
	src := newReactiveSource(t, func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "at-" + strconv.FormatInt(n.Add(1)+1, 10)}, nil
	})
	resp, body := get(t, client(rs, src), rs.URL)
	if resp.StatusCode != http.StatusUnauthorized || body != rejectBody {
		t.Fatalf("got %s %q, want the second 401", resp.Status, body)
	}
	if got := len(rs.seen()); got != 2 {
		t.Fatalf("the server saw %d requests, want 2", got)
	}
	// One refresh: the retry's 401 does not invalidate again. (What the
	// next calls cost is TestServerRejectingEveryTokenCostsBoundedRefreshes.)
	checkStats(t, src, 1, 1)
}

func TestTransportReplaysEmptyBodies(t *testing.T) {
	for _, body := range []io.Reader{nil, http.NoBody} {
		rs := newResourceServer(t, firstToken)
		src := newReactiveSource(t, issuing(rs))
		rs.revoke(firstToken)
		req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, rs.URL, body)
		if err != nil {
			t.Fatal(err)
		}
		if resp, _ := do(t, client(rs, src), req); resp.StatusCode != http.StatusOK {
			t.Errorf("body %v: got %s", body, resp.Status)
		}
		checkStats(t, src, 1, 1)
	}
}

// TestTransportChallenges has a server reject the token with a 401 whose
// WWW-Authenticate field lines are values, and checks whether the request
// was sent again with a new token. An empty list of challenges is a 401
// without one; a list split over several field lines means what it means
// on one line (RFC 9110 §5.3).
func TestTransportChallenges(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		retry  bool
	}{
		{"invalid_token", []string{invalidToken}, true},
		{"no error code", []string{`Bearer realm="api"`}, true},
		{"bare scheme", []string{"Bearer"}, true},
		{"scheme in lower case, token value", []string{"bearer error=invalid_token"}, true},
		{"after other schemes", []string{`Basic realm="x", DPoP algs="ES256", Bearer error="invalid_token"`}, true},
		{"in a second header", []string{`Basic realm="x"`, `Bearer error="invalid_token"`}, true},
		{"no WWW-Authenticate at all", nil, true},
		{"empty", []string{""}, true},
		{"blank", []string{" "}, true},
		{"empty list", []string{","}, true},
		{"empty lines", []string{"", " , "}, true},
		{"Basic only", []string{`Basic realm="x"`}, false},
		{"DPoP only", []string{`DPoP error="invalid_token"`}, false},
		{"insufficient_scope", []string{`Bearer error="insufficient_scope", scope="admin"`}, false},
		{"invalid_request", []string{`Bearer error="invalid_request"`}, false},
		{"unknown error code", []string{`Bearer error="use_dpop_nonce"`}, false},
		{"insufficient_scope on a line of its own", []string{`Bearer realm="api"`, `error="insufficient_scope", scope="admin"`}, false},
		{"invalid_request on a line of its own", []string{`Bearer`, `error="invalid_request"`}, false},
		{"invalid_token on a line of its own", []string{`Bearer realm="api"`, `error="invalid_token"`}, true},
		{"Bearer after an empty line", []string{`Basic realm="x"`, ``, `Bearer`}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := newResourceServer(t, firstToken)
			rs.set(func(rs *resourceServer) { rs.reject = tt.values })
			src := newReactiveSource(t, issuing(rs))
			rs.revoke(firstToken)
			resp, body := get(t, client(rs, src), rs.URL)
			requests, refreshes, status := 1, int64(0), http.StatusUnauthorized
			if tt.retry {
				requests, refreshes, status = 2, 1, http.StatusOK
			}
			if resp.StatusCode != status || len(rs.seen()) != requests {
				t.Errorf("got %s (%q) after %d requests; want %d after %d", resp.Status, body, len(rs.seen()), status, requests)
			}
			checkStats(t, src, refreshes, refreshes)
		})
	}
}

// TestTransportOtherStatuses checks that nothing but a 401 refreshes: the
// response comes back as it is.
func TestTransportOtherStatuses(t *testing.T) {
	tests := []struct {
		status    int
		challenge string
	}{
		{http.StatusForbidden, `Bearer error="insufficient_scope", scope="admin"`},
		{http.StatusForbidden, invalidToken},
		{http.StatusBadRequest, `Bearer error="invalid_request"`},
		{http.StatusInternalServerError, invalidToken},
		{http.StatusProxyAuthRequired, invalidToken},
	}
	for _, tt := range tests {
		var hits atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("Www-Authenticate", tt.challenge)
			w.WriteHeader(tt.status)
			fmt.Fprint(w, "as is")
		}))
		src := newReactiveSource(t, noRefresh(t))
		c := &http.Client{Transport: &Transport{Source: src, Base: srv.Client().Transport}}
		resp, body := get(t, c, srv.URL)
		if resp.StatusCode != tt.status || body != "as is" || hits.Load() != 1 {
			t.Errorf("%d %s: got %s %q after %d requests", tt.status, tt.challenge, resp.Status, body, hits.Load())
		}
		checkStats(t, src, 0, 0)
		srv.Close()
	}
}

// TestTransportReturnsThe401 covers the retries that cannot happen: the
// caller gets the first 401, with its body, and the rejected token is
// dropped all the same.
func TestTransportReturnsThe401(t *testing.T) {
	tests := []struct {
		name          string
		refresh       RefreshFunc
		body          func() io.Reader              // nil means a body that GetBody can replay
		getBody       func() (io.ReadCloser, error) // replaces GetBody, if set
		refreshes     int64
		refreshErrors int64
	}{
		{name: "refresh fails", refresh: failingRefresh, refreshErrors: 1},
		{name: "refresh returns the rejected token", refresh: returning(firstToken), refreshErrors: 1},
		{
			name: "GetBody fails", refresh: returning("at-2"), refreshes: 1,
			getBody: func() (io.ReadCloser, error) { return nil, errors.New("body gone") },
		},
		{
			// No GetBody: a body streamed once cannot be sent again, so
			// the Source does not even refresh.
			name: "body cannot be replayed", refresh: returning("at-2"),
			body: func() io.Reader {
				pr, pw := io.Pipe()
				go func() {
					pw.Write([]byte("streamed"))
					pw.Close()
				}()
				return pr
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := newResourceServer(t)
			src := newReactiveSource(t, tt.refresh)
			var body io.Reader = strings.NewReader("payload")
			if tt.body != nil {
				body = tt.body()
			}
			req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, rs.URL, body)
			if err != nil {
				t.Fatal(err)
			}
			if tt.getBody != nil {
				req.GetBody = tt.getBody
			}
			resp, got := do(t, client(rs, src), req)
			if resp.StatusCode != http.StatusUnauthorized || got != rejectBody {
				t.Errorf("got %s %q, want the 401 with its body", resp.Status, got)
			}
			if n := len(rs.seen()); n != 1 {
				t.Errorf("server saw %d requests, want 1", n)
			}
			st := src.Stats()
			if st.Refreshes != tt.refreshes || st.RefreshErrors != tt.refreshErrors || st.Invalidations != 1 {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestTransportDoesNotResendTheRejectedToken has the Source serve the
// token a request was rejected with again: a server that rejected it, and
// a refresh that returns it once the backoff has passed (see
// TestServerInsistingOnRejectedTokenIsServedAfterBackoff). A request whose
// 401 comes back then gets that 401, rather than being sent again with the
// token just rejected.
func TestTransportDoesNotResendTheRejectedToken(t *testing.T) {
	clock := newTestClock()
	rs := newResourceServer(t) // rejects every token
	held, hold := make(chan struct{}), make(chan struct{})
	var requests atomic.Int32
	rs.set(func(rs *resourceServer) {
		rs.before401 = func() {
			if requests.Add(1) == 1 {
				close(held)
				<-hold
			}
		}
	})
	e := &fakeEndpoint{next: func(int64, *oauth2.Token) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: firstToken, Expiry: clock.Now().Add(time.Hour)}, nil
	}}
	src, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: firstToken, RefreshToken: firstRefreshTok, Expiry: clock.Now().Add(time.Hour)}, nil)
	mustToken(t, src, firstToken)
	c := client(rs, src)

	late := make(chan *http.Response, 1)
	lateReq := mustRequest(t, rs.URL+"/late")
	go func() {
		resp, err := c.Do(lateReq)
		if err != nil {
			t.Error(err)
		}
		late <- resp
	}()
	recv(t, held)
	// The first 401 drops the token; the refresh returns it again, which
	// fails and backs off.
	if resp, _ := get(t, c, rs.URL+"/first"); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("first request: %s, want the 401", resp.Status)
	}
	clock.Advance(backoffMax)
	close(hold)
	// The late 401: the token is dropped already, and the refresh after
	// the backoff returns it again, which is served.
	resp := recv(t, late)
	if resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("late request: %v, want the 401", resp)
	}
	resp.Body.Close()
	if n := len(rs.seen()); n != 2 {
		t.Errorf("server saw %d requests, want 2: none sent again with the rejected token", n)
	}
	if n := e.calls.Load(); n != 2 {
		t.Errorf("RefreshFunc called %d times, want 2", n)
	}
}

// responses is a base RoundTripper that gives its responses in turn.
type responses []func(*http.Request) (*http.Response, error)

func (a *responses) RoundTrip(req *http.Request) (*http.Response, error) {
	next := (*a)[0]
	*a = (*a)[1:]
	return next(req)
}

// TestTransportRetryError checks that once the request is sent again, an
// error of that attempt is what the caller gets, and the 401 is closed.
func TestTransportRetryError(t *testing.T) {
	src := newReactiveSource(t, returning("at-2"))
	first := newTrackedBody(rejectBody)
	errRetry := errors.New("connection reset")
	base := &responses{
		func(req *http.Request) (*http.Response, error) {
			closeBody(req)
			h := http.Header{"Www-Authenticate": {invalidToken}}
			return &http.Response{StatusCode: http.StatusUnauthorized, Header: h, Body: first, ContentLength: -1, Request: req}, nil
		},
		func(req *http.Request) (*http.Response, error) {
			if got := req.Header.Get("Authorization"); got != "Bearer at-2" {
				t.Errorf("retry carried %q", got)
			}
			closeBody(req)
			return nil, errRetry
		},
	}
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, "http://api.test/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&Transport{Source: src, Base: base}).RoundTrip(req)
	if err != errRetry || resp != nil {
		t.Errorf("got %v, %v; want the retry's error", resp, err)
	}
	first.waitClosed(t)
	if len(*base) != 0 {
		t.Errorf("%d responses left; want both used", len(*base))
	}
}

// TestTransportRetriesA401WithoutBody checks a base that returns a 401
// with a nil Body, as some RoundTrippers do: the request is sent again.
func TestTransportRetriesA401WithoutBody(t *testing.T) {
	src := newReactiveSource(t, returning("at-2"))
	base := &responses{
		func(req *http.Request) (*http.Response, error) {
			closeBody(req)
			return &http.Response{StatusCode: http.StatusUnauthorized, Header: http.Header{}, Request: req}, nil
		},
		func(req *http.Request) (*http.Response, error) {
			closeBody(req)
			return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody, Request: req}, nil
		},
	}
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, "http://api.test/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := (&Transport{Source: src, Base: base}).RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("got %v, %v; want the retry's 200", resp, err)
	}
}

// mustRequest returns a GET request for url, bounded by the test's wait.
func mustRequest(t *testing.T, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// failStore fails the test if the Source touches it.
type failStore struct{ t *testing.T }

func (s failStore) Load(context.Context) (*oauth2.Token, error) {
	s.t.Error("the Source loaded its store")
	return nil, ErrNotFound
}

func (s failStore) Save(context.Context, *oauth2.Token) error {
	s.t.Error("the Source saved to its store")
	return nil
}

// TestTransportPresetAuthorization sends requests with credentials of
// their own, under any spelling of the header's name (net/http sends a key
// not in canonical form as it is): each goes out as it is, without the
// Source being used.
func TestTransportPresetAuthorization(t *testing.T) {
	for _, key := range []string{"Authorization", "authorization", "AUTHORIZATION", "AuThOrIzAtIoN"} {
		t.Run(key, func(t *testing.T) {
			rs := newResourceServer(t)
			src := New(noRefresh(t), failStore{t}, nil)
			req := mustRequest(t, rs.URL)
			req.Header[key] = []string{"Basic dXNlcjpwYXNz"}
			resp, _ := do(t, client(rs, src), req)
			// The server's 401 is the caller's business: no retry either.
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("got %s", resp.Status)
			}
			if got := auths(rs.seen()); !reflect.DeepEqual(got, []string{"Basic dXNlcjpwYXNz"}) {
				t.Errorf("server saw %q", got)
			}
			if st := src.Stats(); st != (Stats{}) {
				t.Errorf("stats %+v; the Source was used", st)
			}
		})
	}
}

// TestTransportSendsOneAuthorization gives a request empty Authorization
// values under several spellings: it gets the token, and the server sees
// only that.
func TestTransportSendsOneAuthorization(t *testing.T) {
	rs := newResourceServer(t, firstToken)
	src := newReactiveSource(t, issuing(rs))
	req := mustRequest(t, rs.URL)
	req.Header["authorization"] = []string{""}
	req.Header["Authorization"] = []string{""}
	if resp, _ := do(t, client(rs, src), req); resp.StatusCode != http.StatusOK {
		t.Errorf("got %s", resp.Status)
	}
	if got := auths(rs.seen()); !reflect.DeepEqual(got, []string{"Bearer " + firstToken}) {
		t.Errorf("server saw %q", got)
	}
}

// hanging returns a fake endpoint whose calls block until the test ends.
func hanging(t *testing.T) *fakeEndpoint {
	e := &fakeEndpoint{next: failing(errEndpoint), entered: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(func() { close(e.release) })
	return e
}

// roundTripAsync runs RoundTrip in a goroutine.
func roundTripAsync(tr http.RoundTripper, req *http.Request) <-chan result {
	done := make(chan result, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		done <- result{resp, err}
	}()
	return done
}

type result struct {
	resp *http.Response
	err  error
}

func TestTransportCancelWhileWaitingForToken(t *testing.T) {
	e := hanging(t)
	src := New(e.refresh, nil, nil) // empty store: the first request refreshes
	ctx, cancel := context.WithCancel(t.Context())
	body := newTrackedBody("payload")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:1/never", body)
	if err != nil {
		t.Fatal(err)
	}
	done := roundTripAsync(&Transport{Source: src, Base: failingBase{t}}, req)
	recv(t, e.entered)
	cancel()
	r := recv(t, done)
	if !errors.Is(r.err, context.Canceled) || r.resp != nil {
		t.Errorf("got %v, %v; want context.Canceled", r.resp, r.err)
	}
	body.waitClosed(t)
}

// TestTransportCancelWhileWaitingForRetryToken ends the context while the
// refresh after a 401 hangs: the caller gets the 401 at once.
func TestTransportCancelWhileWaitingForRetryToken(t *testing.T) {
	rs := newResourceServer(t)
	e := hanging(t)
	src := newReactiveSource(t, e.refresh)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rs.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := roundTripAsync(&Transport{Source: src, Base: rs.Client().Transport}, req)
	recv(t, e.entered)
	cancel()
	r := recv(t, done)
	if r.err != nil || r.resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("got %v, %v; want the 401", r.resp, r.err)
	}
	r.resp.Body.Close()
	checkStats(t, src, 0, 1)
}

// failingBase fails the test if a request reaches it.
type failingBase struct{ t *testing.T }

func (b failingBase) RoundTrip(req *http.Request) (*http.Response, error) {
	b.t.Error("a request was sent")
	return nil, errors.New("unexpected request")
}

func TestTransportErrorsCloseBody(t *testing.T) {
	refreshFails := New(failingRefresh, nil, nil)
	for name, tr := range map[string]*Transport{
		"nil Source":    {Base: failingBase{t}},
		"token failure": {Source: refreshFails, Base: failingBase{t}},
	} {
		body := newTrackedBody("payload")
		req, err := http.NewRequestWithContext(testContext(t), http.MethodPost, "http://127.0.0.1:1/", body)
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := tr.RoundTrip(req); err == nil || resp != nil {
			t.Errorf("%s: got %v, %v; want an error", name, resp, err)
		}
		body.waitClosed(t)
	}
}

func TestNewClient(t *testing.T) {
	src := New(failingRefresh, nil, nil)
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	errStop := errors.New("stop")
	base := &http.Client{
		Transport:     failingBase{t},
		CheckRedirect: func(*http.Request, []*http.Request) error { return errStop },
		Jar:           jar,
		Timeout:       7 * time.Second,
	}

	c := NewClient(context.WithValue(context.Background(), oauth2.HTTPClient, base), src)
	tr, ok := c.Transport.(*Transport)
	if !ok || tr.Source != src || tr.Base != base.Transport {
		t.Fatalf("Transport %#v; want a Transport with src over the ctx client's transport", c.Transport)
	}
	if c.Jar != jar || c.Timeout != base.Timeout || c.CheckRedirect == nil || c.CheckRedirect(nil, nil) != errStop {
		t.Errorf("client %+v does not keep the ctx client's Jar, Timeout and CheckRedirect", c)
	}

	var noCtx context.Context // documented to count as a ctx without the value
	for _, ctx := range []context.Context{context.Background(), noCtx} {
		c = NewClient(ctx, src)
		if tr := c.Transport.(*Transport); tr.Base != nil || c.Jar != nil || c.Timeout != 0 || c.CheckRedirect != nil {
			t.Errorf("ctx %v: client %+v over %+v; want http.DefaultClient's settings", ctx, c, tr)
		}
	}
}

// idleCloser is a base RoundTripper that counts its CloseIdleConnections
// calls.
type idleCloser struct {
	http.RoundTripper
	closes atomic.Int32
}

func (c *idleCloser) CloseIdleConnections() { c.closes.Add(1) }

// TestNewClientClosesIdleConnections checks that the client's
// CloseIdleConnections reaches the base transport, and does nothing for a
// base without the method.
func TestNewClientClosesIdleConnections(t *testing.T) {
	src := newReactiveSource(t, issuing(newResourceServer(t)))
	base := &idleCloser{RoundTripper: failingBase{t}}
	NewClient(context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base}), src).CloseIdleConnections()
	if n := base.closes.Load(); n != 1 {
		t.Errorf("the base's CloseIdleConnections was called %d times, want 1", n)
	}
	(&Transport{Source: src, Base: failingBase{t}}).CloseIdleConnections()
}

// TestNewClientFromConfig runs the whole loop against real endpoints: the
// API rejects the stored token, the Source refreshes at the token endpoint
// through the ctx client (not through the Transport), and the request is
// sent again.
func TestNewClientFromConfig(t *testing.T) {
	rs := newResourceServer(t)
	var tokenRequests []string // Authorization headers the token endpoint saw
	var mu sync.Mutex
	endpoint := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tokenRequests = append(tokenRequests, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.FormValue("refresh_token") != firstRefreshTok {
			http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
			return
		}
		rs.allow("at-2")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"at-2","token_type":"Bearer","expires_in":3600}`)
	}))
	defer endpoint.Close()

	store := NewMemoryStore()
	if err := store.Save(context.Background(), &oauth2.Token{AccessToken: firstToken, RefreshToken: firstRefreshTok, Expiry: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	conf := &oauth2.Config{ClientID: "cid", ClientSecret: "secret", Endpoint: oauth2.Endpoint{TokenURL: endpoint.URL, AuthStyle: oauth2.AuthStyleInHeader}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, endpoint.Client())
	src := FromConfig(ctx, conf, store, nil)

	resp, body := get(t, NewClient(ctx, src), rs.URL)
	if resp.StatusCode != http.StatusOK || body != "ok" {
		t.Fatalf("got %s %q", resp.Status, body)
	}
	if got := auths(rs.seen()); !reflect.DeepEqual(got, []string{"Bearer at-1", "Bearer at-2"}) {
		t.Errorf("API saw %q", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(tokenRequests) != 1 || !strings.HasPrefix(tokenRequests[0], "Basic ") {
		t.Errorf("token endpoint saw Authorization %q; want one request with the client's Basic credentials", tokenRequests)
	}
	checkStats(t, src, 1, 1)
}
