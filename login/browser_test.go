package login_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/tokensource/login"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// visit is one page load by the scripted browser.
type visit struct {
	authURL string
	status  int
	length  int64 // the response's Content-Length, -1 if it had none
	body    string
	err     error
}

// follower returns an Open that follows the authorization URL with a plain
// http.Client, through the server's scripted approval to the redirect, and
// reports each visit on the returned channel. edit, if not nil, changes the
// URL first.
func follower(edit func(*url.URL)) (func(string) error, <-chan visit) {
	visits := make(chan visit, 4)
	return func(raw string) error {
		u, err := url.Parse(raw)
		if err != nil {
			return err
		}
		if edit != nil {
			edit(u)
		}
		v := visit{authURL: raw}
		resp, err := http.Get(u.String())
		if err == nil {
			var b []byte
			b, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			v.status, v.length, v.body = resp.StatusCode, resp.ContentLength, string(b)
		}
		v.err = err
		visits <- v
		return nil
	}, visits
}

// captureClient returns a ctx whose oauth2.HTTPClient records the form of
// every token request on the returned channel.
func captureClient(ctx context.Context) (context.Context, <-chan url.Values) {
	forms := make(chan url.Values, 16)
	c := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil && r.Method == http.MethodPost {
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			f, _ := url.ParseQuery(string(b))
			forms <- f
			r.Body = io.NopCloser(strings.NewReader(string(b)))
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	return context.WithValue(ctx, oauth2.HTTPClient, c), forms
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// resourceOK reports whether the server's resource accepts tok.
func resourceOK(t *testing.T, srv *tokensourcetest.Server, tok *oauth2.Token) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, srv.ResourceURL(), nil)
	tok.SetAuthHeader(req)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func TestBrowserPKCEVerifiedByServer(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	conf := srv.Config()
	open, visits := follower(nil)
	ctx, forms := captureClient(context.Background())
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()

	tok, err := login.Browser(conf, &login.BrowserOptions{Open: open})(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !resourceOK(t, srv, tok) || tok.RefreshToken == "" {
		t.Errorf("the login's token does not work, or has no refresh token")
	}
	v := <-visits
	if v.err != nil || v.status != http.StatusOK || v.body != login.DefaultSuccessHTML {
		t.Errorf("the browser landed on %d %q (%v), want the success page", v.status, v.body, v.err)
	}
	auth, _ := url.Parse(v.authURL)
	q := auth.Query()
	form := <-forms
	if q.Get("code_challenge_method") != "S256" ||
		oauth2.S256ChallengeFromVerifier(form.Get("code_verifier")) != q.Get("code_challenge") {
		t.Errorf("challenge %q (%s) does not come from the exchange's verifier", q.Get("code_challenge"), q.Get("code_challenge_method"))
	}
	if form.Get("redirect_uri") != q.Get("redirect_uri") || len(q.Get("state")) < 20 {
		t.Errorf("redirect_uri %q in the exchange, %q in the request; state %q", form.Get("redirect_uri"), q.Get("redirect_uri"), q.Get("state"))
	}
	if st := srv.Stats(); st.Authorizations != 1 || st.CodeExchanges != 1 {
		t.Errorf("Authorizations, CodeExchanges = %d, %d, want 1, 1", st.Authorizations, st.CodeExchanges)
	}
	if conf.RedirectURL != "" {
		t.Errorf("conf.RedirectURL = %q: the caller's Config was modified", conf.RedirectURL)
	}
}

// forgeState makes an Open that sends the browser with another state.
func forgeState(u *url.URL) {
	q := u.Query()
	q.Set("state", "forged")
	u.RawQuery = q.Encode()
}

func TestBrowserWrongStateRefusedAndWaitsOn(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	forged, forgedVisits := follower(forgeState)
	genuine, genuineVisits := follower(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The forged response first; the genuine one once it was refused.
	open := func(u string) error {
		forged(u)
		if v := <-forgedVisits; v.status != http.StatusBadRequest || !strings.Contains(v.body, "does not belong") {
			t.Errorf("a response with a forged state: %d %q, want 400 and an error page", v.status, v.body)
		}
		if st := srv.Stats(); st.CodeExchanges != 0 {
			t.Errorf("the forged response's code was exchanged")
		}
		return genuine(u)
	}
	tok, err := login.Browser(srv.Config(), &login.BrowserOptions{Open: open})(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v := <-genuineVisits; v.status != http.StatusOK || !resourceOK(t, srv, tok) {
		t.Errorf("the genuine response after a forged one: %d, want the success page and a working token", v.status)
	}
	if st := srv.Stats(); st.Authorizations != 2 || st.CodeExchanges != 1 {
		t.Errorf("Authorizations, CodeExchanges = %d, %d, want 2, 1", st.Authorizations, st.CodeExchanges)
	}
}

func TestBrowserWrongStateOnlyGivesNoToken(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	open, visits := follower(forgeState)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()

	tok, err := login.Browser(srv.Config(), &login.BrowserOptions{Open: open})(ctx)
	if tok != nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, %v; want no token and the deadline", tok, err)
	}
	if v := <-visits; v.status != http.StatusBadRequest {
		t.Errorf("forged response: %d, want 400", v.status)
	}
	if st := srv.Stats(); st.CodeExchanges != 0 {
		t.Errorf("CodeExchanges = %d, want 0", st.CodeExchanges)
	}
}

func TestBrowserAbandonedEndsAtDeadlineAndFreesThePort(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	for _, tt := range []struct {
		name    string
		ctx     time.Duration
		timeout time.Duration
	}{
		{name: "ctx deadline", ctx: 300 * time.Millisecond},
		{name: "Timeout", ctx: time.Minute, timeout: 300 * time.Millisecond},
	} {
		t.Run(tt.name, func(t *testing.T) {
			redirects := make(chan string, 1)
			open := func(raw string) error { // the user never comes back
				u, _ := url.Parse(raw)
				redirects <- u.Query().Get("redirect_uri")
				return nil
			}
			ctx, cancel := context.WithTimeout(context.Background(), tt.ctx)
			defer cancel()
			start := time.Now()
			tok, err := login.Browser(srv.Config(), &login.BrowserOptions{Open: open, Timeout: tt.timeout})(ctx)
			if tok != nil || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("got %v, %v; want no token and the deadline", tok, err)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("returned after %v", d)
			}
			redirect, _ := url.Parse(<-redirects)
			ln, err := net.Listen("tcp", redirect.Host)
			if err != nil {
				t.Fatalf("the redirect's port is still taken: %v", err)
			}
			ln.Close()
		})
	}
}

func TestBrowserListensOnLoopbackOnly(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	var other net.IP // an address of this machine that is not loopback
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			other = n.IP
			break
		}
	}
	open := func(raw string) error {
		u, _ := url.Parse(raw)
		redirect, _ := url.Parse(u.Query().Get("redirect_uri"))
		if redirect.Scheme != "http" || redirect.Hostname() != "127.0.0.1" {
			t.Errorf("redirect_uri %q, want http on 127.0.0.1", redirect)
		}
		if other != nil {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(other.String(), redirect.Port()), 2*time.Second)
			if err == nil {
				c.Close()
				t.Errorf("the redirect's port answers on %v too", other)
			}
		}
		return errors.New("done looking")
	}
	_, err := login.Browser(srv.Config(), &login.BrowserOptions{Open: open})(context.Background())
	if err == nil || !strings.Contains(err.Error(), "done looking") {
		t.Errorf("err = %v, want Open's error", err)
	}
}

func TestBrowserRefusesRedirectsOffLoopback(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	for _, redirect := range []string{"http://localhost/cb", "http://localhost:0/cb", "http://example.com/cb", "https://127.0.0.1/cb", "http://0.0.0.0:0/cb"} {
		conf := srv.Config()
		conf.RedirectURL = redirect
		opened := false
		_, err := login.Browser(conf, &login.BrowserOptions{Open: func(string) error { opened = true; return nil }})(context.Background())
		if err == nil || opened {
			t.Errorf("RedirectURL %q: err %v, opened %v; want an error before any browser opens", redirect, err, opened)
		}
	}
}

func TestBrowserGivenPortAndPath(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	conf := srv.Config()
	conf.RedirectURL = "http://127.0.0.1:" + strconv.Itoa(port) + "/callback"
	open, visits := follower(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if _, err := login.Browser(conf, &login.BrowserOptions{Open: open})(ctx); err != nil {
		t.Fatal(err)
	}
	auth, _ := url.Parse((<-visits).authURL)
	if got := auth.Query().Get("redirect_uri"); got != conf.RedirectURL {
		t.Errorf("redirect_uri %q, want the configured %q", got, conf.RedirectURL)
	}
}

func TestBrowserIPv6Loopback(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	ln.Close()
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	conf := srv.Config()
	conf.RedirectURL = "http://[::1]:0/cb"
	open, visits := follower(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := login.Browser(conf, &login.BrowserOptions{Open: open})(ctx); err != nil {
		t.Fatal(err)
	}
	auth, _ := url.Parse((<-visits).authURL)
	if r, _ := url.Parse(auth.Query().Get("redirect_uri")); r.Hostname() != "::1" || r.Port() == "0" || r.Path != "/cb" {
		t.Errorf("redirect_uri %q, want [::1] with a picked port and /cb", r)
	}
}

func TestBrowserDenied(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	srv.DenyConsent(true)
	open, visits := follower(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := login.Browser(srv.Config(), &login.BrowserOptions{Open: open})(ctx)
	if tok != nil || err == nil || !strings.Contains(err.Error(), "access_denied") {
		t.Errorf("got %v, %v; want no token and access_denied", tok, err)
	}
	if v := <-visits; !strings.Contains(v.body, "Sign-in failed") {
		t.Errorf("the browser shows %q, want the failure", v.body)
	}
}

func TestBrowserSuccessHTMLAndOptions(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	open, visits := follower(nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := &login.BrowserOptions{
		Open:            open,
		SuccessHTML:     "<p>all good</p>",
		AuthCodeOptions: []oauth2.AuthCodeOption{oauth2.AccessTypeOffline, oauth2.SetAuthURLParam("code_challenge", "mine")},
	}
	if _, err := login.Browser(srv.Config(), opts)(ctx); err != nil {
		t.Fatal(err) // "mine" would have made the server refuse
	}
	v := <-visits
	if v.body != "<p>all good</p>" || !strings.Contains(v.authURL, "access_type=offline") {
		t.Errorf("page %q, URL %q; want the custom page and the extra option", v.body, v.authURL)
	}
	// A page without a length ends only when the handler returns, which
	// may be after Browser closed the server: a browser then waits for the
	// rest forever.
	if v.err != nil || v.length != int64(len(v.body)) {
		t.Errorf("reading the page: Content-Length %d for %d bytes, error %v; want the length, read whole", v.length, len(v.body), v.err)
	}
}
