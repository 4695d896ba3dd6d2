package tokensource

// Benchmarks of the Pool: Get on a held key against a sync.Map Load, and
// the heap an idle account costs, against x/oauth2. BENCHMARKS.md gives the
// figures and the command.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// poolBenchKeys is how many keys the Get benchmark spreads its calls over.
const poolBenchKeys = 1024

// BenchmarkPoolGet measures Get of a key the Pool holds, from GOMAXPROCS
// goroutines, against a Load (and type assertion) of the same keys from a
// sync.Map; run it with -cpu 1,2. Goal: no allocation, and at most 1.5 times
// the sync.Map's ns/op.
func BenchmarkPoolGet(b *testing.B) {
	keys := make([]string, poolBenchKeys)
	p := NewPool(func(string) *Source { return New(failingRefresh, nil, nil) }, &PoolOptions{IdleTimeout: time.Hour})
	var m sync.Map
	for i := range keys {
		keys[i] = fmt.Sprintf("account-%06d", i)
		m.Store(keys[i], p.Get(keys[i]))
	}
	sides := map[string]func(key string) *Source{
		"pool": p.Get,
		"sync.Map": func(key string) *Source {
			v, _ := m.Load(key)
			return v.(*Source)
		},
	}
	for _, side := range []string{"pool", "sync.Map"} {
		b.Run(side, func(b *testing.B) {
			get := sides[side]
			var goroutine atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(goroutine.Add(1)) * 7919 // each goroutine its own order of the keys
				for pb.Next() {
					if get(keys[i%len(keys)]) == nil {
						b.Error("no Source")
						return
					}
					i++
				}
			})
		})
	}
}

// idleAccounts is how many accounts BenchmarkIdleAccount makes per op.
const idleAccounts = 100_000

// BenchmarkIdleAccount measures the heap an idle account costs: a Source
// made by FromConfig on a MemoryStore that holds the account's login, kept in
// a Pool, after one refresh has given it a token. Each op makes idleAccounts
// of them and reports the growth of the live heap per account (B/account).
// Goal: at most 1.5 KB. Side New makes the Source with New and a RefreshFunc
// that needs no HTTP, so its token has none of the response's extras. Side
// Pool gives every key the same Source: what the Pool itself costs per key.
// Side oauth2-TokenSource is x/oauth2's equivalent of an account:
// oauth2.Config.TokenSource of the login in a sync.Map, after one refresh.
//
// The token endpoint is an http.RoundTripper in the process that responds to
// every refresh with new tokens of the size tokensourcetest issues, so that
// nothing but the accounts stays on the heap.
func BenchmarkIdleAccount(b *testing.B) {
	for _, side := range []string{"FromConfig", "New", "Pool", "oauth2-TokenSource"} {
		b.Run(side, func(b *testing.B) {
			var perAccount float64
			for b.Loop() {
				perAccount = idleAccountBytes(b, side)
			}
			b.ReportMetric(perAccount, "B/account")
		})
	}
}

// idleAccountBytes makes idleAccounts idle accounts of side, and returns the
// growth of the live heap per account.
func idleAccountBytes(b *testing.B, side string) float64 {
	endpoint := &cannedEndpoint{}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: endpoint})
	conf := &oauth2.Config{ClientID: "id", ClientSecret: "secret", Endpoint: oauth2.Endpoint{TokenURL: "https://auth.example/token", AuthStyle: oauth2.AuthStyleInHeader}}
	login := func() *oauth2.Token {
		return &oauth2.Token{AccessToken: "expired", RefreshToken: endpoint.refreshToken(), Expiry: time.Now().Add(-time.Hour)}
	}
	newStore := func() *MemoryStore {
		st := NewMemoryStore()
		if err := st.Save(ctx, login()); err != nil {
			b.Fatal(err)
		}
		return st
	}
	pooled := func(newSource func(string) *Source) (*Pool, func(string) oauth2.TokenSource) {
		p := NewPool(newSource, &PoolOptions{IdleTimeout: time.Hour})
		return p, func(key string) oauth2.TokenSource { return p.Get(key) }
	}
	var accounts any // what holds them all
	var get func(key string) oauth2.TokenSource
	refreshes := int64(idleAccounts)
	switch side {
	case "FromConfig":
		accounts, get = pooled(func(string) *Source { return FromConfig(ctx, conf, newStore(), nil) })
	case "New":
		accounts, get = pooled(func(string) *Source { return New(endpoint.refreshFunc, newStore(), nil) })
	case "Pool":
		shared := New(endpoint.refreshFunc, newStore(), nil)
		accounts, get = pooled(func(string) *Source { return shared })
		refreshes = 1
	case "oauth2-TokenSource":
		m := new(sync.Map)
		accounts, get = m, func(key string) oauth2.TokenSource {
			ts := conf.TokenSource(ctx, login())
			m.Store(key, ts)
			return ts
		}
	}

	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range idleAccounts {
		if _, err := get(fmt.Sprintf("account-%06d", i)).Token(); err != nil {
			b.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(accounts)
	if n := endpoint.calls.Load(); n != refreshes {
		b.Fatalf("%d refreshes for %d accounts, want %d", n, idleAccounts, refreshes)
	}
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / idleAccounts
}

// cannedEndpoint is a token endpoint in the process: an http.RoundTripper
// that responds to every request with a new token pair, and the RefreshFunc
// that returns the same pair without HTTP.
type cannedEndpoint struct {
	calls atomic.Int64
	n     atomic.Int64
}

// refreshToken returns a new refresh token, as long as tokensourcetest's.
func (e *cannedEndpoint) refreshToken() string {
	return fmt.Sprintf("rt_%026d", e.n.Add(1))
}

func (e *cannedEndpoint) accessToken() string {
	return fmt.Sprintf("at_%026d", e.n.Add(1))
}

func (e *cannedEndpoint) RoundTrip(req *http.Request) (*http.Response, error) {
	e.calls.Add(1)
	io.Copy(io.Discard, req.Body)
	req.Body.Close()
	body := fmt.Sprintf(`{"access_token":%q,"token_type":"Bearer","refresh_token":%q,"expires_in":3600}`, e.accessToken(), e.refreshToken())
	return &http.Response{
		Status:     "200 OK",
		StatusCode: http.StatusOK,
		Header:     http.Header{"Content-Type": {"application/json"}},
		Body:       io.NopCloser(strings.NewReader(body)),
		Request:    req,
	}, nil
}

func (e *cannedEndpoint) refreshFunc(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
	e.calls.Add(1)
	return &oauth2.Token{AccessToken: e.accessToken(), TokenType: "Bearer", RefreshToken: e.refreshToken(), ExpiresIn: 3600}, nil
}
