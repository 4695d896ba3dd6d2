package tokensource

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// BenchmarkDPoPProof is the cost of one proof: an ES256 signature, which
// dominates, and its JSON. Side ecdsa-sign is the signature alone, as
// crypto/ecdsa makes it for the proof's key: the floor of any proof built
// on it. The goal is under 60 µs and 40 allocations on one core.
func BenchmarkDPoPProof(b *testing.B) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k, err := newDPoPKey(priv)
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now()
	b.Run("tokensource", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := k.proof("GET", "https://api.example.com/v1/items", "nonce", "access-token", now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("ecdsa-sign", func(b *testing.B) {
		digest := sha256.Sum256([]byte("header.claims"))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := priv.Sign(nil, digest[:], crypto.SHA256); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// okTransport answers every request with an empty 200, so that a request
// through a Transport costs only what the Transport adds.
type okTransport struct{}

func (okTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: http.StatusOK, Body: io.NopCloser(strings.NewReader("")), Header: http.Header{}, Request: req}, nil
}

// BenchmarkTransportRequest is one request through a Transport with a
// valid token, Bearer and DPoP side by side: what a DPoP request costs
// more is its proof.
func BenchmarkTransportRequest(b *testing.B) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name string
		typ  string
		dpop *DPoPOptions
	}{
		{"bearer", "Bearer", nil},
		{"dpop", "DPoP", &DPoPOptions{Key: priv}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			store := NewMemoryStore()
			tok := &oauth2.Token{AccessToken: "access", TokenType: tc.typ, RefreshToken: "refresh", Expiry: time.Now().Add(time.Hour)}
			if err := store.Save(context.Background(), tok); err != nil {
				b.Fatal(err)
			}
			src := New(func(context.Context, *oauth2.Token) (*oauth2.Token, error) { return tok, nil }, store, &Options{DPoP: tc.dpop})
			tr := &Transport{Source: src, Base: okTransport{}}
			req, _ := http.NewRequest("GET", "https://api.example.com/v1/items", nil)
			b.ReportAllocs()
			for b.Loop() {
				resp, err := tr.RoundTrip(req)
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Fatal(resp, err)
				}
			}
		})
	}
}
