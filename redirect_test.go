package tokensource

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sync"
	"testing"
)

func TestIsDomainOrSubdomain(t *testing.T) {
	tests := []struct {
		host, parent string
		want         bool
	}{
		{"example.com", "example.com", true},
		{"api.example.com", "example.com", true},
		{"a.b.example.com", "example.com", true},
		{"API.Example.COM", "example.com", true},
		{"example.com", "api.example.com", false},
		{"badexample.com", "example.com", false},
		{"example.com.evil.net", "example.com", false},
		{".example.com", "example.com", false},
		{"example.com", "", false},
		{"127.0.0.1", "127.0.0.1", true},
		{"localhost", "127.0.0.1", false},
		{"::1", "::1", true},
		{"::1%.example.com", "example.com", false},
		{"xn--bcher-kva.example", "b\u00fccher.example", false},
		{"\u212a.com", "k.com", false}, // KELVIN SIGN folds to k in Unicode, not in DNS
	}
	for _, tt := range tests {
		if got := isDomainOrSubdomain(tt.host, tt.parent); got != tt.want {
			t.Errorf("isDomainOrSubdomain(%q, %q) = %v, want %v", tt.host, tt.parent, got, tt.want)
		}
	}
}

// chain returns the last request of a redirect chain through urls, linked
// the way http.Client links it.
func chain(t *testing.T, urls ...string) *http.Request {
	t.Helper()
	var prev *http.Request
	for _, u := range urls {
		r, err := http.NewRequest(http.MethodGet, u, nil)
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil {
			r.Response = &http.Response{StatusCode: http.StatusFound, Request: prev}
		}
		prev = r
	}
	return prev
}

var redirectCases = []struct {
	name string
	urls []string
	want bool
}{
	{"not a redirect", []string{"https://example.com/a"}, true},
	{"same host", []string{"https://example.com/a", "https://example.com/b"}, true},
	{"subdomain", []string{"https://example.com/a", "https://api.example.com/b"}, true},
	{"parent domain", []string{"https://api.example.com/a", "https://example.com/b"}, false},
	{"look-alike host", []string{"https://example.com/a", "https://badexample.com/b"}, false},
	{"other host", []string{"https://example.com/a", "https://other.net/b"}, false},
	{"other port", []string{"https://example.com/a", "https://example.com:8443/b"}, true},
	{"away and back", []string{"https://example.com/a", "https://other.net/b", "https://example.com/c"}, false},
	{"down two levels", []string{"https://example.com/a", "https://api.example.com/b", "https://v2.api.example.com/c"}, true},
	{"IP address and name", []string{"http://127.0.0.1:8080/a", "http://localhost:8080/b"}, false},
	{"IPv6", []string{"http://[::1]:8080/a", "http://[::1]:9090/b"}, true},
}

// schemeCases are where the token is kept off although net/http forwards a
// caller's Authorization header: over plain http after a redirect left
// https (RFC 6750 §5.3).
var schemeCases = []struct {
	name string
	urls []string
	want bool
}{
	{"to plain http, same host", []string{"https://example.com/a", "http://example.com/b"}, false},
	{"to plain http, subdomain", []string{"https://example.com/a", "http://api.example.com/b"}, false},
	{"to plain http and back", []string{"https://example.com/a", "http://example.com/b", "https://example.com/c"}, false},
	{"plain http from the start", []string{"http://example.com/a", "http://example.com/b"}, true},
	{"from plain http to https", []string{"http://example.com/a", "https://example.com/b"}, true},
}

func TestTokenAllowed(t *testing.T) {
	for _, tt := range redirectCases {
		if got := tokenAllowed(chain(t, tt.urls...)); got != tt.want {
			t.Errorf("%s: tokenAllowed(%v) = %v, want %v", tt.name, tt.urls, got, tt.want)
		}
	}
	t.Run("case-insensitive", func(t *testing.T) {
		if !tokenAllowed(chain(t, "https://Example.com/a", "https://api.EXAMPLE.com/b")) {
			t.Error("a host that differs only in case lost the token")
		}
	})
	t.Run("broken chain", func(t *testing.T) {
		r := chain(t, "https://example.com/a")
		r.Response = &http.Response{StatusCode: http.StatusFound} // no Request
		if tokenAllowed(r) {
			t.Error("a redirect whose first request cannot be found got the token")
		}
	})
}

func TestTokenWithheldAfterLeavingHTTPS(t *testing.T) {
	for _, tt := range schemeCases {
		if got := tokenAllowed(chain(t, tt.urls...)); got != tt.want {
			t.Errorf("%s: tokenAllowed(%v) = %v, want %v", tt.name, tt.urls, got, tt.want)
		}
	}
}

// redirector responds to the first request of a chain with a redirect to the
// next URL, and records, for the last hop, the Authorization header
// http.Client copied and what tokenAllowed says about it.
type redirector struct {
	urls        []string
	hops        int
	clientAuth  string
	allowedHere bool
}

func (r *redirector) RoundTrip(req *http.Request) (*http.Response, error) {
	r.hops++
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: req}
	if r.hops < len(r.urls) {
		resp.StatusCode = http.StatusFound
		resp.Header.Set("Location", r.urls[r.hops])
		return resp, nil
	}
	r.clientAuth = req.Header.Get("Authorization")
	r.allowedHere = tokenAllowed(req)
	return resp, nil
}

// TestTokenAllowedMatchesNetHTTP follows the same chains with http.Client
// and a caller-set Authorization header: the token goes wherever net/http
// forwards that header, and nowhere else, but for schemeCases.
func TestTokenAllowedMatchesNetHTTP(t *testing.T) {
	for _, tt := range redirectCases {
		rt := &redirector{urls: tt.urls}
		req, err := http.NewRequest(http.MethodGet, tt.urls[0], nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer caller")
		resp, err := (&http.Client{Transport: rt}).Do(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		resp.Body.Close()
		if rt.hops != len(tt.urls) {
			t.Fatalf("%s: %d hops, want %d", tt.name, rt.hops, len(tt.urls))
		}
		if netHTTP := rt.clientAuth != ""; rt.allowedHere != netHTTP {
			t.Errorf("%s: tokenAllowed = %v, but net/http forwarded Authorization: %v", tt.name, rt.allowedHere, netHTTP)
		}
	}
}

// TestTransportRedirects sends redirects between a server reached as
// 127.0.0.1 and one reached as localhost: different hosts to net/http.
func TestTransportRedirects(t *testing.T) {
	var mu sync.Mutex
	var seen []string // "host path auth"
	record := func(name string, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, name+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
	}
	var a, b *httptest.Server
	a = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("a", r)
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/end", http.StatusFound)
		case "/away":
			http.Redirect(w, r, localhost(t, b.URL)+"/end", http.StatusFound)
		case "/away-and-back":
			http.Redirect(w, r, localhost(t, b.URL)+"/back", http.StatusFound)
		default:
			unauthorizedUnless(w, r, "Bearer "+firstToken)
		}
	}))
	defer a.Close()
	b = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("b", r)
		if r.URL.Path == "/back" {
			http.Redirect(w, r, a.URL+"/end", http.StatusFound)
			return
		}
		unauthorizedUnless(w, r, "Bearer "+firstToken)
	}))
	defer b.Close()

	tests := []struct {
		path   string
		status int
		want   []string
	}{
		{"/same", http.StatusOK, []string{"a /same Bearer at-1", "a /end Bearer at-1"}},
		{"/away", http.StatusUnauthorized, []string{"a /away Bearer at-1", "b /end "}},
		{"/away-and-back", http.StatusUnauthorized, []string{"a /away-and-back Bearer at-1", "b /back ", "a /end "}},
	}
	for _, tt := range tests {
		mu.Lock()
		seen = nil
		mu.Unlock()
		src := newReactiveSource(t, noRefresh(t))
		c := &http.Client{Transport: &Transport{Source: src, Base: a.Client().Transport}}
		resp, _ := get(t, c, a.URL+tt.path)
		mu.Lock()
		if resp.StatusCode != tt.status || !reflect.DeepEqual(seen, tt.want) {
			t.Errorf("%s: got %s, servers saw %q; want %d, %q", tt.path, resp.Status, seen, tt.status, tt.want)
		}
		mu.Unlock()
		// The 401s for requests sent without a token do not touch it.
		checkStats(t, src, 0, 0)
	}
}

// TestTransportWithholdsTokenOverPlainHTTPAfterRedirect has an https server
// redirect to plain http on the same host: the token must not follow, in
// the clear. A first request over plain http still gets it.
func TestTransportWithholdsTokenOverPlainHTTPAfterRedirect(t *testing.T) {
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Header.Get("Authorization"))
	}))
	defer plain.Close()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/end", http.StatusFound)
	}))
	defer tls.Close()
	src := newReactiveSource(t, issuing(newResourceServer(t)))
	c := &http.Client{Transport: &Transport{Source: src, Base: tls.Client().Transport}}

	if _, body := get(t, c, tls.URL+"/start"); body != "" {
		t.Errorf("the plain http server got Authorization %q after a redirect from https", body)
	}
	if _, body := get(t, c, plain.URL+"/direct"); body != "Bearer "+firstToken {
		t.Errorf("a first request over plain http carried %q, want the token", body)
	}
}

// localhost returns u with its host 127.0.0.1 renamed localhost.
func localhost(t *testing.T, u string) string {
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	p.Host = "localhost:" + p.Port()
	return p.String()
}

func unauthorizedUnless(w http.ResponseWriter, r *http.Request, auth string) {
	if r.Header.Get("Authorization") == auth {
		fmt.Fprint(w, "ok")
		return
	}
	w.Header().Set("Www-Authenticate", invalidToken)
	w.WriteHeader(http.StatusUnauthorized)
}
