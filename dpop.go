package tokensource

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"sync"
)

// DPoPOptions turn on sender-constrained tokens (DPoP, RFC 9449): every
// token request, and every request of a [Transport], carries a proof signed
// with a key the client holds, and the tokens the server binds to that key
// are useless to whoever steals them without it.
//
// The token requests of [FromConfig], and of a [LoginFunc] or [RefreshFunc]
// that sends them through the ctx's oauth2.HTTPClient (as
// golang.org/x/oauth2 and package login do), carry proofs. A server that
// asks for a nonce (use_dpop_nonce) is answered once, with it; nonces are
// kept per origin. A server that answers with a Bearer token gets it back
// as Bearer. Only the HTTP [Transport] proves DPoP-bound tokens to
// resources: gRPC (grpcsource) and clients that take the Source as an
// oauth2.TokenSource send no proof, so keep them on Bearer tokens.
type DPoPOptions struct {
	// Key signs the proofs, with ES256: its Public key must be an ECDSA
	// P-256 key (a hardware or KMS signer will do). A Key that is given is
	// never stored. nil means a key the Source generates at its first
	// token request and keeps in the store's record next to the refresh
	// token it is bound to (encrypted with the store's Encrypter, if any),
	// so that a restart, another process or a replica signs with it too.
	// Only a store that keeps records (a [Backend]: the stores of this
	// module and its store modules) keeps the key; with another Store,
	// give a Key, or a restart finds its tokens bound to a key it lost.
	Key crypto.Signer
}

// A dpopKey signs proofs: the signer, and the parts of every proof's
// header that do not change.
type dpopKey struct {
	signer  crypto.Signer
	private *ecdsa.PrivateKey // the key itself when it is kept in the store; nil for a given one
	header  string            // base64url of the JWS header, with the public JWK
	jkt     string            // RFC 7638 thumbprint of the public key
}

var errDPoPKeyType = errors.New("the DPoP key is not an ECDSA P-256 key")

// newDPoPKey prepares signer for proofs.
func newDPoPKey(signer crypto.Signer) (*dpopKey, error) {
	pub, ok := signer.Public().(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil, errDPoPKeyType
	}
	x, y := pointBytes(pub)
	jwk := `{"crv":"P-256","kty":"EC","x":"` + b64(x) + `","y":"` + b64(y) + `"}`
	sum := sha256.Sum256([]byte(jwk)) // the members in RFC 7638's order, no spaces
	k := &dpopKey{
		signer: signer,
		header: b64([]byte(`{"typ":"dpop+jwt","alg":"ES256","jwk":` + jwk + `}`)),
		jkt:    b64(sum[:]),
	}
	if priv, ok := signer.(*ecdsa.PrivateKey); ok {
		k.private = priv
	}
	return k, nil
}

// generateDPoPKey makes a new P-256 key.
func generateDPoPKey() (*dpopKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	return newDPoPKey(priv)
}

// pointBytes returns the coordinates of pub, a P-256 key, 32 bytes each.
func pointBytes(pub *ecdsa.PublicKey) (x, y []byte) {
	b, err := pub.Bytes() // 0x04, x, y
	if err != nil || len(b) != 65 {
		return make([]byte, 32), make([]byte, 32)
	}
	return b[1:33], b[33:]
}

// privateJWK is the JSON a record keeps its DPoP key in.
type privateJWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	D   string `json:"d"`
}

// encodeDPoPKey returns priv as a private JWK.
func encodeDPoPKey(priv *ecdsa.PrivateKey) *privateJWK {
	x, y := pointBytes(&priv.PublicKey)
	d, _ := priv.Bytes()
	return &privateJWK{Kty: "EC", Crv: "P-256", X: b64(x), Y: b64(y), D: b64(d)}
}

// decodeDPoPKey parses a private JWK that encodeDPoPKey wrote.
func decodeDPoPKey(j *privateJWK) (*ecdsa.PrivateKey, error) {
	if j.Kty != "EC" || j.Crv != "P-256" {
		return nil, errors.New("the DPoP key is not an EC P-256 key")
	}
	d, err := base64.RawURLEncoding.DecodeString(j.D)
	if err != nil {
		return nil, errors.New("the DPoP key does not parse")
	}
	priv, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return nil, errors.New("the DPoP key does not parse")
	}
	if x, y := pointBytes(&priv.PublicKey); b64(x) != j.X || b64(y) != j.Y {
		return nil, errors.New("the DPoP key's public part does not match")
	}
	return priv, nil
}

// dpopState is a Source's DPoP: its key, and the nonces servers gave.
type dpopState struct {
	given bool // the key is Options.DPoP.Key, never stored

	mu  sync.Mutex
	key *dpopKey // nil until the first token request or load, when not given

	nonces sync.Map // origin ("https://host:port") → its latest DPoP-Nonce
}

// newDPoPState returns the DPoP of a Source with opts. It panics if the
// given key is not one it can sign with: a mistake in the program, which
// every token request would report otherwise.
func newDPoPState(opts *DPoPOptions) *dpopState {
	d := &dpopState{}
	if opts.Key != nil {
		k, err := newDPoPKey(opts.Key)
		if err != nil {
			panic("tokensource: DPoPOptions.Key: " + err.Error())
		}
		d.key, d.given = k, true
	}
	return d
}

// current returns the key, or nil.
func (d *dpopState) current() *dpopKey {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.key
}

// ensure returns the key, generating one if there is none yet.
func (d *dpopState) ensure() (*dpopKey, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.key == nil {
		k, err := generateDPoPKey()
		if err != nil {
			return nil, err
		}
		d.key = k
	}
	return d.key, nil
}

// adopt takes priv, the key a record holds, unless it is the one in use.
func (d *dpopState) adopt(priv *ecdsa.PrivateKey) error {
	if d.given {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.key != nil && d.key.private != nil && d.key.private.Equal(priv) {
		return nil
	}
	k, err := newDPoPKey(priv)
	if err != nil {
		return err
	}
	d.key = k
	return nil
}

// stored returns the key to keep in the record: nil for a given key.
func (d *dpopState) stored() *ecdsa.PrivateKey {
	if d == nil || d.given {
		return nil
	}
	if k := d.current(); k != nil {
		return k.private
	}
	return nil
}

// takeDPoPKey adopts the DPoP key rec holds. A token bound to a key the
// record lacks is corrupt: the refresh token is useless without that key,
// and a new key would not do.
func (s *Source) takeDPoPKey(rec *Record) error {
	if s.dpop == nil || s.dpop.given || rec == nil {
		return nil
	}
	if rec.DPoPKey != nil {
		return s.dpop.adopt(rec.DPoPKey)
	}
	if tok := rec.Token; tok != nil && strings.EqualFold(tok.TokenType, "DPoP") {
		return &corruptRecord{errDPoPKeyMissing}
	}
	return nil
}

var errDPoPKeyMissing = errors.New("the token is bound to a DPoP key the record does not hold")

// origin returns the origin of rawURL, under which its nonce is kept.
func origin(u *url.URL) string { return u.Scheme + "://" + u.Host }

// nonce returns the latest nonce of u's origin, or "".
func (d *dpopState) nonce(u *url.URL) string {
	if v, ok := d.nonces.Load(origin(u)); ok {
		return v.(string)
	}
	return ""
}

// noteNonce keeps the DPoP-Nonce of a response from u's origin, if it has
// one.
func (d *dpopState) noteNonce(u *url.URL, h map[string][]string) {
	if v := headerValue(h, "Dpop-Nonce"); v != "" {
		d.nonces.Store(origin(u), v)
	}
}

// headerValue returns the first value of the canonical key in h.
func headerValue(h map[string][]string, key string) string {
	if vv := h[key]; len(vv) > 0 {
		return vv[0]
	}
	return ""
}
