package tokensource

// Benchmarks against golang.org/x/oauth2, side by side in one run: each
// benchmark has one sub-benchmark per implementation, named tokensource and
// x-oauth2, so that their lines compare one to one. scripts/bench runs them
// and writes the figures into BENCHMARKS.md.
//
// Both sides are called through the oauth2.TokenSource interface. On a
// valid token, the tokensource side is TokenContext, the hot path that
// Transport and direct callers take; Token adds a copy of the token for
// wrappers such as oauth2.NewClient's, which call it only when their own
// cache is empty: the valid-token benchmarks measure it too, as the side
// tokensource-Token.

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// benchToken returns a token that expires life from now.
func benchToken(life time.Duration) *oauth2.Token {
	return &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: time.Now().Add(life)}
}

// benchSource returns a Source whose MemoryStore holds tok.
func benchSource(b *testing.B, refresh RefreshFunc, tok *oauth2.Token, opts *Options) *Source {
	b.Helper()
	st := NewMemoryStore()
	if err := st.Save(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	return New(refresh, st, opts)
}

// primedSource returns a Source holding tok that has already served it once,
// so that the token is loaded from the store and cached.
func primedSource(b *testing.B, refresh RefreshFunc, tok *oauth2.Token, opts *Options) *Source {
	b.Helper()
	s := benchSource(b, refresh, tok, opts)
	if got, err := s.Token(); err != nil || got.AccessToken != tok.AccessToken {
		b.Fatalf("priming Token() = %v, %v; want %s", got, err, tok.AccessToken)
	}
	return s
}

// refreshSource is a RefreshFunc as an oauth2.TokenSource, the source that
// ReuseTokenSource calls when its token is invalid. It passes no current
// token: x/oauth2's own refresher keeps the refresh token to itself.
type refreshSource RefreshFunc

func (r refreshSource) Token() (*oauth2.Token, error) {
	return r(context.Background(), nil)
}

// tokenSides returns the sides of the valid-token benchmarks, each
// holding a token valid for an hour, and a func that fails b if any
// called its endpoint.
func tokenSides(b *testing.B) (sides map[string]oauth2.TokenSource, check func()) {
	e := &fakeEndpoint{next: failing(errEndpoint)}
	s := primedSource(b, e.refresh, benchToken(time.Hour), nil)
	hooked := primedSource(b, e.refresh, benchToken(time.Hour), &Options{Hooks: benchHooks()})
	sides = map[string]oauth2.TokenSource{
		"tokensource":       hotPath{s},
		"tokensource-hooks": hotPath{hooked},
		"tokensource-Token": s,
		"x-oauth2":          oauth2.ReuseTokenSource(benchToken(time.Hour), refreshSource(e.refresh)),
	}
	return sides, func() {
		if n := e.calls.Load(); n != 0 {
			b.Errorf("endpoint called %d times on a valid token", n)
		}
	}
}

// hotPath is a Source as an oauth2.TokenSource whose Token is
// TokenContext.
type hotPath struct{ s *Source }

func (h hotPath) Token() (*oauth2.Token, error) { return h.s.TokenContext(context.Background()) }

var benchSides = []string{"tokensource", "x-oauth2"}

// tokenBenchSides are the sides of the valid-token benchmarks;
// tokensource-hooks is tokensource with every hook set.
var tokenBenchSides = []string{"tokensource", "tokensource-hooks", "tokensource-Token", "x-oauth2"}

// benchHooks returns Hooks with every field set, doing nothing.
func benchHooks() *Hooks {
	return &Hooks{
		RefreshStart: func(ctx context.Context, _ RefreshStartInfo) context.Context { return ctx },
		StoreLoaded:  func(context.Context, StoreLoadedInfo) {},
		LockAcquired: func(context.Context, time.Duration) {},
		TokenRequest: func(context.Context) {},
		Saved:        func(context.Context, SavedInfo) {},
		RefreshDone:  func(context.Context, RefreshDoneInfo) {},
		Invalidated:  func(context.Context, InvalidatedInfo) {},
		Unauthorized: func(context.Context, UnauthorizedInfo) {},
	}
}

// BenchmarkToken measures getting a valid cached token, from one
// goroutine. Goal: no allocation (tokensource-Token makes one, its copy),
// and the same speed with hooks set (tokensource-hooks).
func BenchmarkToken(b *testing.B) {
	for _, side := range tokenBenchSides {
		b.Run(side, func(b *testing.B) {
			sides, check := tokenSides(b)
			ts := sides[side]
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ts.Token(); err != nil {
					b.Fatal(err)
				}
			}
			check()
		})
	}
}

// BenchmarkTokenParallel measures getting a valid cached token from
// GOMAXPROCS goroutines at once; run it with -cpu 1,2 (or more). Goal: no
// allocation, and at least 2.5 times the throughput of ReuseTokenSource,
// whose every call takes a mutex.
func BenchmarkTokenParallel(b *testing.B) {
	for _, side := range tokenBenchSides {
		b.Run(side, func(b *testing.B) {
			sides, check := tokenSides(b)
			ts := sides[side]
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := ts.Token(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			check()
		})
	}
}

// The failure storm: stormCallers callers need a token at the same moment,
// the cached one has expired, and the token endpoint fails after
// stormLatency.
const (
	stormCallers = 100
	stormLatency = 50 * time.Millisecond
)

// BenchmarkFailureStorm measures one failure storm per op. It reports the
// endpoint calls per storm (calls/op) and the longest any caller waited for
// its error in any storm (max-wait-ms). Goal: 1 call, and a wait of about
// one endpoint latency. ReuseTokenSource holds its mutex over the call and
// does not share errors, so each caller retries in turn. Each op of the
// x-oauth2 side takes stormCallers*stormLatency (5s): run with -benchtime=3x.
func BenchmarkFailureStorm(b *testing.B) {
	sources := map[string]func(b *testing.B, refresh RefreshFunc) oauth2.TokenSource{
		"tokensource": func(b *testing.B, refresh RefreshFunc) oauth2.TokenSource {
			return benchSource(b, refresh, benchToken(-time.Minute), nil)
		},
		"x-oauth2": func(b *testing.B, refresh RefreshFunc) oauth2.TokenSource {
			return oauth2.ReuseTokenSource(benchToken(-time.Minute), refreshSource(refresh))
		},
	}
	for _, side := range benchSides {
		b.Run(side, func(b *testing.B) {
			var calls int64
			var maxWait time.Duration
			for b.Loop() {
				e := &fakeEndpoint{next: func(int64, *oauth2.Token) (*oauth2.Token, error) {
					time.Sleep(stormLatency) // the endpoint's latency: the workload
					return nil, errEndpoint
				}}
				ts := sources[side](b, e.refresh)
				waits := make([]time.Duration, stormCallers)
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range stormCallers {
					wg.Go(func() {
						<-start
						t0 := time.Now()
						_, err := ts.Token()
						waits[i] = time.Since(t0)
						if !errors.Is(err, errEndpoint) {
							b.Errorf("caller %d: got %v, want the endpoint's error", i, err)
						}
					})
				}
				close(start)
				wg.Wait()
				calls += e.calls.Load()
				maxWait = max(maxWait, slices.Max(waits))
			}
			b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
			b.ReportMetric(ms(maxWait), "max-wait-ms")
		})
	}
}

// The expiry edge: edgeCallers callers each call Token, spend edgePause on
// the request it authorizes, and call again, for edgeSpan, while tokens
// that live edgeLife come from an endpoint that takes edgeLatency.
//
// With the default Options, tokensource expires a token EarlyExpiry (10s)
// before its Expiry, capped at a quarter of its lifetime: 250ms, so at 0.75s
// of a 1s life. Its refresh-ahead window opens RefreshAhead (1m) before
// that, but never before half of the lifetime: at 0.5s. The first call
// after 0.5s starts the background refresh, which lands at about 0.6s, well
// before 0.75s: no caller waits. ReuseTokenSourceWithExpiry gets the same
// early expiry, edgeLife/4, so both use a token for the same 0.75s at most.
// (Plain ReuseTokenSource expires tokens 10s early: a 1s token would never
// be valid, and every call would go to the endpoint.)
const (
	edgeCallers = 32
	edgeLife    = time.Second
	edgeLatency = 100 * time.Millisecond
	edgePause   = 10 * time.Millisecond
	edgeSpan    = 3 * time.Second
)

// BenchmarkExpiryEdge measures edgeSpan of calls by edgeCallers callers
// per op, across several token expiries. It reports the longest wait of
// any Token call (max-wait-ms), the 99th percentile of all calls' waits
// (p99-wait-ms), and endpoint calls per op (calls/op). Goal: no caller
// waits more than a few ms. ReuseTokenSource holds its mutex over the
// refresh, so at each expiry every caller waits up to edgeLatency.
//
// The percentile is over calls: each caller makes about one call per
// edgePause, so at each expiry one call in 70 or so waits. Run with
// -benchtime=3x: each op takes edgeSpan.
func BenchmarkExpiryEdge(b *testing.B) {
	sources := map[string]func(b *testing.B, refresh RefreshFunc) (ts oauth2.TokenSource, idle func()){
		"tokensource": func(b *testing.B, refresh RefreshFunc) (oauth2.TokenSource, func()) {
			s := primedSource(b, refresh, benchToken(edgeLife), nil)
			return s, func() { s.waitIdle(b) }
		},
		"x-oauth2": func(b *testing.B, refresh RefreshFunc) (oauth2.TokenSource, func()) {
			return oauth2.ReuseTokenSourceWithExpiry(benchToken(edgeLife), refreshSource(refresh), edgeLife/4), func() {}
		},
	}
	for _, side := range benchSides {
		b.Run(side, func(b *testing.B) {
			var calls int64
			var waits []time.Duration
			for b.Loop() {
				e := &fakeEndpoint{next: func(n int64, _ *oauth2.Token) (*oauth2.Token, error) {
					time.Sleep(edgeLatency) // the endpoint's latency: the workload
					return &oauth2.Token{AccessToken: "a" + itoa(n), RefreshToken: "r" + itoa(n), Expiry: time.Now().Add(edgeLife)}, nil
				}}
				ts, idle := sources[side](b, e.refresh)
				perCaller := make([][]time.Duration, edgeCallers)
				end := time.Now().Add(edgeSpan)
				var wg sync.WaitGroup
				for i := range edgeCallers {
					wg.Go(func() {
						w := make([]time.Duration, 0, int(edgeSpan/edgePause)+1)
						defer func() { perCaller[i] = w }()
						for time.Now().Before(end) {
							t0 := time.Now()
							tok, err := ts.Token()
							t1 := time.Now()
							w = append(w, t1.Sub(t0))
							if err != nil || !t1.Before(tok.Expiry) {
								b.Errorf("caller %d: got %v, %v; want a token that has not expired", i, tok, err)
								return
							}
							time.Sleep(edgePause) // the request the token authorizes
						}
					})
				}
				wg.Wait()
				idle() // a refresh ahead may still run: let it end within the op
				calls += e.calls.Load()
				for _, w := range perCaller {
					waits = append(waits, w...)
				}
			}
			slices.Sort(waits)
			b.ReportMetric(float64(calls)/float64(b.N), "calls/op")
			b.ReportMetric(ms(waits[len(waits)-1]), "max-wait-ms")
			b.ReportMetric(ms(waits[(len(waits)*99-1)/100]), "p99-wait-ms")
		})
	}
}

// ms returns d in milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// cannedOK is a base RoundTripper that responds to every request with the same
// 200 at no cost, so that a benchmark measures only the Transport above it.
type cannedOK struct{ resp *http.Response }

func (c cannedOK) RoundTrip(*http.Request) (*http.Response, error) { return c.resp, nil }

// BenchmarkTransport compares the hot path (a valid cached token, a 200) of
// this package's Transport with oauth2.Transport over the source
// oauth2.NewClient uses.
func BenchmarkTransport(b *testing.B) {
	tok := &oauth2.Token{AccessToken: "benchmark-access-token", TokenType: "Bearer", Expiry: time.Now().Add(time.Hour)}
	base := cannedOK{&http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody}}
	req, err := http.NewRequest(http.MethodGet, "https://api.example.com/v1/items?limit=10", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "bench/1.0")

	store := NewMemoryStore()
	if err := store.Save(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	src := New(func(context.Context, *oauth2.Token) (*oauth2.Token, error) { return tok, nil }, store, nil)
	if _, err := src.Token(); err != nil {
		b.Fatal(err)
	}

	transports := []struct {
		name string
		rt   http.RoundTripper
	}{
		{"tokensource", &Transport{Source: src, Base: base}},
		{"x-oauth2", &oauth2.Transport{Source: oauth2.ReuseTokenSource(nil, oauth2.StaticTokenSource(tok)), Base: base}},
	}
	for _, tt := range transports {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, err := tt.rt.RoundTrip(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatal(resp, err)
				}
			}
		})
	}
}
