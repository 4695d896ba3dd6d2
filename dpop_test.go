package tokensource

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// verifyProof checks a proof as a server would, and returns its claims.
func verifyProof(t *testing.T, proof string, pub *ecdsa.PublicKey) map[string]any {
	t.Helper()
	parts := strings.Split(proof, ".")
	if len(parts) != 3 {
		t.Fatalf("proof %q is not a compact JWS", proof)
	}
	var header struct {
		Typ, Alg string
		JWK      map[string]string
	}
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if err := json.Unmarshal(hb, &header); err != nil || header.Typ != "dpop+jwt" || header.Alg != "ES256" || header.JWK["kty"] != "EC" || header.JWK["d"] != "" {
		t.Fatalf("header %s", hb)
	}
	x, y := pointBytes(pub)
	if header.JWK["x"] != b64(x) || header.JWK["y"] != b64(y) {
		t.Fatal("the header's JWK is not the key's")
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if len(sig) != 64 || !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("the signature does not verify")
	}
	var claims map[string]any
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(pb, &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestDPoPProof(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k, err := newDPoPKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	p1, err := k.proof("GET", "https://api.example.com/v1/items?page=2#top", "n-1", "the-token", now)
	if err != nil {
		t.Fatal(err)
	}
	c := verifyProof(t, p1, &priv.PublicKey)
	sum := sha256.Sum256([]byte("the-token"))
	if c["htm"] != "GET" || c["htu"] != "https://api.example.com/v1/items" || c["iat"] != float64(now.Unix()) ||
		c["nonce"] != "n-1" || c["ath"] != b64(sum[:]) {
		t.Errorf("claims %v", c)
	}
	p2, _ := k.proof("GET", "https://api.example.com/v1/items", "", "", now)
	c2 := verifyProof(t, p2, &priv.PublicKey)
	if c2["jti"] == c["jti"] || c2["nonce"] != nil || c2["ath"] != nil {
		t.Errorf("a second proof: claims %v; want a new jti, no nonce, no ath", c2)
	}
	// RFC 7638 §3.1's example thumbprint is for an RSA key; for EC the
	// members are crv, kty, x, y: recompute independently.
	x, y := pointBytes(&priv.PublicKey)
	want := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + b64(x) + `","y":"` + b64(y) + `"}`))
	if k.jkt != b64(want[:]) {
		t.Errorf("jkt %s, want %s", k.jkt, b64(want[:]))
	}
}

func TestDPoPKeyOfAnotherTypeIsRefused(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "P-256") {
			t.Errorf("New with a P-384 DPoP key: panic %v; want one naming P-256", r)
		}
	}()
	New(func(context.Context, *oauth2.Token) (*oauth2.Token, error) { return nil, nil }, nil, &Options{DPoP: &DPoPOptions{Key: p384}})
}

func TestRecordKeepsTheDPoPKey(t *testing.T) {
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	data, err := EncodeRecord(&Record{Generation: 1, Token: &oauth2.Token{AccessToken: "a", TokenType: "DPoP", RefreshToken: "r"}, DPoPKey: priv})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := DecodeRecord(data)
	if err != nil || rec.DPoPKey == nil || !rec.DPoPKey.Equal(priv) {
		t.Fatalf("DecodeRecord = %+v, %v; want the key back", rec, err)
	}
	broken := strings.Replace(string(data), `"d": "`, `"d": "x`, 1)
	if _, err := DecodeRecord([]byte(broken)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("a record whose key does not parse: %v; want ErrCorrupt", err)
	}
}

// TestDPoPTokenWithoutItsKeyIsCorrupt: a DPoP-bound token whose record
// lacks the key is corrupt; the Source does not make a new key for it.
func TestDPoPTokenWithoutItsKeyIsCorrupt(t *testing.T) {
	store := NewMemoryStore()
	ctx := context.Background()
	if err := store.Save(ctx, &oauth2.Token{AccessToken: "a", TokenType: "DPoP", RefreshToken: "r", Expiry: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	requests := 0
	src := New(func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		requests++
		return nil, errors.New("no request expected")
	}, store, &Options{DPoP: &DPoPOptions{}})
	if _, err := src.TokenContext(ctx); !errors.Is(err, ErrCorrupt) || requests != 0 {
		t.Fatalf("TokenContext = %v after %d requests; want ErrCorrupt and none", err, requests)
	}
}

// TestProofClaimsAreJSON: the claims of a proof are what encoding/json
// reads back, whatever the method, URL and nonce hold.
func TestProofClaimsAreJSON(t *testing.T) {
	for _, s := range []string{"", "GET", "https://api.example.com/a b", `n"1\`, "a<b>&c", "\x00\x1f\x7f", "héllo", "\xff\xfe", "\u2028"} {
		got := appendJSONString([]byte("x"), s)
		want, _ := json.Marshal(s)
		if string(got) != "x"+string(want) {
			t.Errorf("appendJSONString(%q) = %s, want x%s", s, got, want)
		}
		var c map[string]any
		now := time.Unix(1_800_000_000, 0)
		if err := json.Unmarshal(proofClaims(nil, s, s, s, "t", now), &c); err != nil {
			t.Errorf("claims for %q: %v", s, err)
		}
	}
}
