package tokensource

import (
	"context"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource/tokensourcetest"
)

// newServer starts a tokensourcetest server on clock, closed with the test.
func newServer(t *testing.T, clock *tokensourcetest.Clock, opts *tokensourcetest.Options) *tokensourcetest.Server {
	t.Helper()
	if opts == nil {
		opts = &tokensourcetest.Options{}
	}
	opts.Now = clock.Now
	srv := tokensourcetest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv
}

// loggedIn returns a FromConfig Source on clock whose store holds a first
// token pair from srv, already loaded, and that token.
func loggedIn(t *testing.T, srv *tokensourcetest.Server, clock *tokensourcetest.Clock) (*Source, *MemoryStore, *oauth2.Token) {
	t.Helper()
	login := srv.Login()
	st := storeWith(t, login)
	s := FromConfig(context.Background(), srv.Config(), st, &Options{Now: clock.Now})
	mustToken(t, s, login.AccessToken)
	return s, st, login
}

func TestFromConfigRefreshesAndSavesRotatedToken(t *testing.T) {
	clock := newTestClock()
	srv := newServer(t, clock, nil)
	s, st, login := loggedIn(t, srv, clock)
	clock.Advance(time.Hour)
	tok, err := s.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == login.AccessToken || tok.RefreshToken == login.RefreshToken {
		t.Fatal("the refresh did not rotate the token")
	}
	if want := clock.Now().Add(time.Hour); !tok.Expiry.Equal(want) {
		t.Errorf("Expiry = %v, want %v", tok.Expiry, want)
	}
	if stored, _ := st.Load(context.Background()); !sameToken(stored, tok) {
		t.Errorf("the store does not hold the rotated token")
	}
	if got := srv.Stats(); got.TokenRequests != 1 || got.Refreshes != 1 {
		t.Errorf("server Stats = %+v; want 1 request, 1 refresh", got)
	}
}

func TestFromConfigEmptyStoreNeedsLogin(t *testing.T) {
	clock := newTestClock()
	srv := newServer(t, clock, nil)
	st := NewMemoryStore()
	s := FromConfig(context.Background(), srv.Config(), st, &Options{Now: clock.Now})

	wantReauthWithoutRequests(t, s, srv, clock, 0)

	// The user logs in (here or in another process): the Source uses it.
	login := srv.Login()
	st.Save(context.Background(), login)
	mustToken(t, s, login.AccessToken)
}

func TestFromConfigInvalidGrantNeedsLogin(t *testing.T) {
	clock := newTestClock()
	srv := newServer(t, clock, nil)
	s, st, login := loggedIn(t, srv, clock)

	srv.RevokeFamily(login.RefreshToken)
	clock.Advance(time.Hour)
	_, err := s.Token()
	if !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("err = %v, want ErrReauthRequired", err)
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("err = %v, want an oauth2.RetrieveError with invalid_grant", err)
	}

	wantReauthWithoutRequests(t, s, srv, clock, 1)

	// A new login in the store ends it, without a token request.
	again := srv.Login()
	st.Save(context.Background(), again)
	mustToken(t, s, again.AccessToken)
	if n := srv.Stats().TokenRequests; n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// wantReauthWithoutRequests checks that s keeps answering
// ErrReauthRequired, to Token calls however late and to a forced Refresh,
// and that srv got no token requests beyond the want it had in all.
func wantReauthWithoutRequests(t *testing.T, s *Source, srv *tokensourcetest.Server, clock *tokensourcetest.Clock, want int64) {
	t.Helper()
	for range 10 {
		clock.Advance(time.Hour)
		if _, err := s.Token(); !errors.Is(err, ErrReauthRequired) {
			t.Fatalf("err = %v, want ErrReauthRequired", err)
		}
	}
	if _, err := s.Refresh(context.Background()); !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("forced Refresh: err = %v, want ErrReauthRequired", err)
	}
	if n := srv.Stats().TokenRequests; n != want {
		t.Fatalf("%d token requests, want %d", n, want)
	}
}

// recordingTransport records the requests it forwards.
type recordingTransport struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
	return http.DefaultTransport.RoundTrip(req)
}

func TestFromConfigAuthStyleAndContextClient(t *testing.T) {
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		clock := newTestClock()
		srv := newServer(t, clock, nil)
		conf := srv.Config()
		conf.Endpoint.AuthStyle = style
		rec := &recordingTransport{}
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: rec})
		s := FromConfig(ctx, conf, storeWith(t, srv.Login()), &Options{Now: clock.Now})
		clock.Advance(time.Hour)
		if _, err := s.Token(); err != nil {
			t.Fatalf("style %v: %v", style, err)
		}
		if len(rec.reqs) != 1 {
			t.Fatalf("style %v: %d requests through the context's client, want 1", style, len(rec.reqs))
		}
		_, _, basic := rec.reqs[0].BasicAuth()
		if basic != (style == oauth2.AuthStyleInHeader) {
			t.Errorf("style %v: Basic auth sent = %v", style, basic)
		}
	}
}

// basicRefusingEndpoint refuses Basic client authentication with
// invalid_client and accepts the credentials in the form.
func basicRefusingEndpoint(t *testing.T, requests *atomic.Int64) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if _, _, ok := r.BasicAuth(); ok || r.FormValue("client_secret") != "s" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":"invalid_client"}`))
			return
		}
		w.Write([]byte(`{"access_token":"new","token_type":"Bearer","expires_in":3600}`))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestFromConfigAutoDetectRetriesOnlyRefusedClient(t *testing.T) {
	clock := newTestClock()
	var requests atomic.Int64
	ep := basicRefusingEndpoint(t, &requests)
	conf := &oauth2.Config{ClientID: "c", ClientSecret: "s", Endpoint: oauth2.Endpoint{TokenURL: ep.URL}}
	st := storeWith(t, &oauth2.Token{AccessToken: "old", RefreshToken: "r", Expiry: clock.Now().Add(-time.Hour)})
	s := FromConfig(context.Background(), conf, st, &Options{Now: clock.Now})

	mustToken(t, s, "new")
	if n := requests.Load(); n != 2 {
		t.Fatalf("first refresh: %d requests, want 2 (Basic refused, then form)", n)
	}
	clock.Advance(time.Hour)
	mustToken(t, s, "new")
	if n := requests.Load(); n != 3 {
		t.Fatalf("second refresh: %d requests in all, want 3 (the form style is kept)", n)
	}
}

func TestFromConfigNeverResendsAfterLostResponse(t *testing.T) {
	clock := newTestClock()
	srv := newServer(t, clock, nil)
	conf := srv.Config()
	conf.Endpoint.AuthStyle = oauth2.AuthStyleAutoDetect
	login := srv.Login()

	// x/oauth2, auto-detecting, sends the refresh token a second time when
	// the first answer is lost: with rotation, that is a replay, and the
	// server revokes the family.
	srv.FailNext(1, tokensourcetest.FaultLoseResponse)
	expired := *login
	expired.Expiry = clock.Now().Add(-time.Hour)
	if _, err := conf.TokenSource(context.Background(), &expired).Token(); err == nil {
		t.Fatal("x/oauth2 refresh succeeded after a lost response")
	}
	if got := srv.Stats(); got.TokenRequests != 2 || got.ReuseDetected != 1 {
		t.Fatalf("x/oauth2: server Stats = %+v; want 2 requests, 1 reuse", got)
	}

	// FromConfig sends one request and reports the lost answer.
	login = srv.Login()
	srv.FailNext(1, tokensourcetest.FaultLoseResponse)
	before := srv.Stats().TokenRequests
	s := FromConfig(context.Background(), conf, storeWith(t, login), &Options{Now: clock.Now})
	clock.Advance(time.Hour)
	if _, err := s.Token(); err == nil {
		t.Fatal("refresh succeeded after a lost response")
	}
	if got := srv.Stats(); got.TokenRequests-before != 1 || got.ReuseDetected != 1 {
		t.Errorf("server Stats = %+v; want 1 more request, no more reuse", got)
	}
}

func TestParseTokenResponse(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		status                  int
		wantAccess              string
		wantExpiresIn           int64
		wantErr                 string
	}{
		{"json", "application/json", `{"access_token":"at","token_type":"Bearer","expires_in":60}`, 200, "at", 60, ""},
		{"expires_in as a string", "application/json", `{"access_token":"at","expires_in":"60"}`, 200, "at", 60, ""},
		{"form encoded", "application/x-www-form-urlencoded", `access_token=at&expires_in=60`, 200, "at", 60, ""},
		{"negative expires_in", "application/json", `{"access_token":"at","expires_in":-5}`, 200, "at", 0, ""},
		{"huge expires_in", "application/json", `{"access_token":"at","expires_in":1e30}`, 200, "at", math.MaxInt64, ""},
		{"huge expires_in as a string", "application/json", `{"access_token":"at","expires_in":"99999999999999999999"}`, 200, "at", math.MaxInt64, ""},
		{"error with 200", "application/json", `{"error":"invalid_grant","error_description":"gone"}`, 200, "", 0, "invalid_grant: gone"},
		{"error status", "application/json", `{"error":"invalid_client"}`, 401, "", 0, "401 Unauthorized: invalid_client"},
		{"error status without JSON", "text/html", `<h1>secret-at</h1>`, 502, "", 0, "502 Bad Gateway"},
		{"no access token", "application/json", `{"refresh_token":"secret-rt"}`, 200, "", 0, "without an access_token"},
		{"not JSON", "application/json", `{"access_token":"secret-at"`, 200, "", 0, "cannot be parsed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Status: itoa(int64(tt.status)) + " " + http.StatusText(tt.status), Header: http.Header{"Content-Type": {tt.contentType}}}
			tok, err := parseTokenResponse(resp, []byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q quotes the body", err)
				}
				return
			}
			if err != nil || tok.AccessToken != tt.wantAccess || tok.ExpiresIn != tt.wantExpiresIn {
				t.Fatalf("got %+v, %v; want access %q, expires_in %d", tok, err, tt.wantAccess, tt.wantExpiresIn)
			}
		})
	}
}

func TestFromConfigNilStorePanics(t *testing.T) {
	defer func() {
		const want = "tokensource: FromConfig with a nil Store"
		if r, _ := recover().(string); !strings.HasPrefix(r, want) {
			t.Errorf("panic %q, want one starting %q", r, want)
		}
	}()
	FromConfig(context.Background(), &oauth2.Config{}, nil, nil)
}
