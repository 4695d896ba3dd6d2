package tokensource

import (
	"context"
	"net/http"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// cannedOK is a base RoundTripper that answers every request with the same
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
