package tokensourcetest

// DPoP (RFC 9449): checking proofs, and binding tokens to the proof's key.
// The nonces are in dpop_nonce.go.

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The DPoP error codes (RFC 9449 §5, §7.1, §8, §12.2).
const (
	errInvalidDPoPProof = "invalid_dpop_proof"
	errUseDPoPNonce     = "use_dpop_nonce"
)

const (
	// dpopTyp is the typ of a DPoP proof's protected header (RFC 9449 §4.2).
	dpopTyp = "dpop+jwt"

	// dpopAlg is the only signature algorithm the server accepts.
	dpopAlg = "ES256"

	// dpopIATWindow is how far a proof's iat may be from the server clock,
	// either way.
	dpopIATWindow = 60 * time.Second

	// dpopTokenType is the token_type of DPoP-bound tokens (RFC 9449 §5).
	dpopTokenType = "DPoP"
)

// b64 decodes the parts of a JWS: base64url without padding, with unused
// trailing bits refused, so that every value has one encoding.
var b64 = base64.RawURLEncoding.Strict()

// A dpopProof is what a request's DPoP header says, checked as far as can be
// done without the server's state: everything but iat, the nonce and jti
// replay. Its checks are made outside s.mu, since verifying a signature is
// slow.
type dpopProof struct {
	bad   string  // why the proof is invalid, or "" if it passed
	jkt   string  // RFC 7638 thumbprint of the proof's key
	jti   string  // unique identifier
	iat   float64 // issue time, in seconds since the epoch
	nonce string  // "" if the proof has none
}

// readDPoPProof reads and checks the DPoP proof of r. token is the access
// token r presents to the resource, whose hash must be the proof's ath; ""
// means r is a token request, whose proof has no ath to check. The checks
// are RFC 9449 §4.3's, except for iat, the nonce and the jti, which
// acceptProofLocked checks.
func readDPoPProof(r *http.Request, token string) dpopProof {
	values := r.Header.Values("DPoP")
	switch len(values) {
	case 0:
		return dpopProof{bad: "a DPoP proof is required: send one in the DPoP header"}
	case 1:
	default:
		return dpopProof{bad: "more than one DPoP header"}
	}
	p, bad := parseDPoPProof(values[0])
	if bad != "" {
		return dpopProof{bad: bad}
	}
	switch {
	case p.htm != r.Method:
		bad = fmt.Sprintf("the DPoP proof's htm is %q, but the request's method is %s", p.htm, r.Method)
	case !sameHTU(p.htu, r):
		bad = fmt.Sprintf("the DPoP proof's htu %q is not the URL of the request, %s", p.htu, requestURL(r))
	case token != "" && p.ath == nil:
		bad = "the DPoP proof has no ath: it must hash the access token"
	case token != "" && *p.ath != tokenHash(token):
		bad = "the DPoP proof's ath is not the hash of the access token"
	}
	return dpopProof{bad: bad, jkt: p.jkt, jti: p.jti, iat: p.iat, nonce: p.nonce}
}

// parsedProof is the content of a DPoP proof whose signature verified.
type parsedProof struct {
	jkt      string
	jti      string
	htm, htu string
	iat      float64
	ath      *string // nil if absent
	nonce    string
}

// parseDPoPProof parses the compact JWS jws, checks its header and its
// signature, and returns its claims, or why it is not a valid DPoP proof.
func parseDPoPProof(jws string) (p parsedProof, bad string) {
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		return p, "the DPoP proof is not a compact JWS (three base64url parts)"
	}
	rawHeader, err := b64.DecodeString(parts[0])
	if err != nil {
		return p, "the DPoP proof's header is not base64url"
	}
	var header struct {
		Typ string          `json:"typ"`
		Alg string          `json:"alg"`
		JWK json.RawMessage `json:"jwk"`
	}
	if err := json.Unmarshal(rawHeader, &header); err != nil {
		return p, "the DPoP proof's header is not a JSON object: " + err.Error()
	}
	if !strings.EqualFold(header.Typ, dpopTyp) {
		return p, fmt.Sprintf("the DPoP proof's typ is %q, want %q", header.Typ, dpopTyp)
	}
	if header.Alg != dpopAlg {
		return p, fmt.Sprintf("the DPoP proof's alg %q is not supported: use %s", header.Alg, dpopAlg)
	}
	key, jkt, bad := parseJWK(header.JWK)
	if bad != "" {
		return p, bad
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		return p, "the DPoP proof's signature is not 64 bytes of base64url (ES256's R || S)"
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(key, digest[:], r, s) {
		return p, "the DPoP proof's signature does not verify with its jwk"
	}

	rawClaims, err := b64.DecodeString(parts[1])
	if err != nil {
		return p, "the DPoP proof's payload is not base64url"
	}
	var claims struct {
		JTI   string   `json:"jti"`
		HTM   string   `json:"htm"`
		HTU   string   `json:"htu"`
		IAT   *float64 `json:"iat"`
		ATH   *string  `json:"ath"`
		Nonce string   `json:"nonce"`
	}
	if err := json.Unmarshal(rawClaims, &claims); err != nil {
		return p, "the DPoP proof's payload is not a JSON object of claims: " + err.Error()
	}
	switch {
	case claims.JTI == "":
		return p, "the DPoP proof has no jti"
	case claims.HTM == "":
		return p, "the DPoP proof has no htm"
	case claims.HTU == "":
		return p, "the DPoP proof has no htu"
	case claims.IAT == nil:
		return p, "the DPoP proof has no iat"
	}
	return parsedProof{
		jkt: jkt, jti: claims.JTI, htm: claims.HTM, htu: claims.HTU,
		iat: *claims.IAT, ath: claims.ATH, nonce: claims.Nonce,
	}, ""
}

// parseJWK parses the public key of a DPoP proof's header, which must be an
// EC P-256 key without its private part, and returns it with its RFC 7638
// thumbprint, or why it is refused.
func parseJWK(raw json.RawMessage) (key *ecdsa.PublicKey, jkt, bad string) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil || members == nil {
		return nil, "", "the DPoP proof's header has no jwk object"
	}
	if _, ok := members["d"]; ok {
		return nil, "", `the DPoP proof's jwk holds a private key ("d"): send the public key only`
	}
	var k struct{ Kty, Crv, X, Y string }
	if err := json.Unmarshal(raw, &k); err != nil {
		return nil, "", "the DPoP proof's jwk is malformed: " + err.Error()
	}
	if k.Kty != "EC" || k.Crv != "P-256" {
		return nil, "", fmt.Sprintf("the DPoP proof's jwk is a %q %q key, want an EC P-256 key for ES256", k.Kty, k.Crv)
	}
	x, errX := b64.DecodeString(k.X)
	y, errY := b64.DecodeString(k.Y)
	if errX != nil || errY != nil || len(x) != 32 || len(y) != 32 {
		return nil, "", "the DPoP proof's jwk has an x or y that is not 32 bytes of base64url"
	}
	key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		return nil, "", "the DPoP proof's jwk is not a point of P-256"
	}
	return key, ecThumbprint(x, y), ""
}

// ecThumbprint returns the RFC 7638 thumbprint of the P-256 public key with
// the coordinates x and y: base64url of the SHA-256 of the key's required
// members, in lexicographic order and without white space.
func ecThumbprint(x, y []byte) string {
	canonical := `{"crv":"P-256","kty":"EC","x":"` + base64.RawURLEncoding.EncodeToString(x) +
		`","y":"` + base64.RawURLEncoding.EncodeToString(y) + `"}`
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// tokenHash returns the ath of token: base64url of its SHA-256
// (RFC 9449 §4.2).
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// requestURL returns the URL r was sent to, without query or fragment, as
// the client saw it: scheme, Host header and path. Through a TCP proxy such
// as netfault's, that is the proxy's address.
func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.EscapedPath()
}

// sameHTU reports whether htu is the URL of r, ignoring query and fragment
// (RFC 9449 §4.3), after the normalizations of RFC 3986 §6.2.2 and §6.2.3:
// scheme and host are compared without case, a default port is the same as
// none, an empty path is "/", and percent-encoding is decoded.
func sameHTU(htu string, r *http.Request) bool {
	u, err := url.Parse(htu)
	if err != nil || u.Opaque != "" || u.Host == "" {
		return false
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return strings.EqualFold(u.Scheme, scheme) &&
		normalHost(scheme, u.Host) == normalHost(scheme, r.Host) &&
		normalPath(u.Path) == normalPath(r.URL.Path)
}

// normalHost returns host in lower case, without the default port of scheme.
func normalHost(scheme, host string) string {
	host = strings.ToLower(host)
	host = strings.TrimSuffix(host, ":") // an empty port is the default one
	switch {
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		return strings.TrimSuffix(host, ":80")
	case scheme == "https" && strings.HasSuffix(host, ":443"):
		return strings.TrimSuffix(host, ":443")
	}
	return host
}

// normalPath returns p, or "/" if p is empty.
func normalPath(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// acceptProofLocked completes the check of p against the server's state:
// the iat window by the server clock, the current nonce, and the jti, which
// must be new; a proof that passes has its jti recorded. It returns "" and
// "", or the error code (errInvalidDPoPProof or errUseDPoPNonce) and its
// description, and counts the outcome in the stats. s.mu must be held.
func (s *Server) acceptProofLocked(p dpopProof) (code, desc string) {
	now := s.now()
	nowSecs := float64(now.Unix()) + float64(now.Nanosecond())/1e9
	nonce := s.dpopNonceLocked()
	switch {
	case p.bad != "":
		code, desc = errInvalidDPoPProof, p.bad
	case math.Abs(p.iat-nowSecs) > dpopIATWindow.Seconds():
		code, desc = errInvalidDPoPProof, fmt.Sprintf(
			"the DPoP proof's iat is %.0f seconds from the server clock, more than %.0f",
			p.iat-nowSecs, dpopIATWindow.Seconds())
	case p.nonce == "":
		code, desc = errUseDPoPNonce, "a DPoP nonce is required: put the one in the DPoP-Nonce header in the proof"
	case p.nonce != nonce:
		code, desc = errUseDPoPNonce, "the DPoP proof's nonce is stale: use the one in the DPoP-Nonce header"
	default:
		if s.dpop.jtis == nil {
			s.dpop.jtis = make(map[string]struct{})
		}
		if _, seen := s.dpop.jtis[p.jti]; seen {
			code, desc = errInvalidDPoPProof, "the DPoP proof's jti was already used: the proof is a replay"
			break
		}
		s.dpop.jtis[p.jti] = struct{}{}
		return "", ""
	}
	if code == errUseDPoPNonce {
		s.stats.DPoPNonceChallenges++
	} else {
		s.stats.DPoPProofsRejected++
	}
	return code, desc
}

// dpopGrantLocked is grantLocked in DPoP mode: the request's proof is
// checked first, and the tokens of a successful grant are bound to its key.
// s.mu must be held.
func (s *Server) dpopGrantLocked(r *http.Request, parseErr error, p dpopProof) tokenResult {
	if code, desc := s.acceptProofLocked(p); code != "" {
		return tokenError(http.StatusBadRequest, code, desc)
	}
	res := s.grantLocked(r, parseErr, p.jkt)
	tr, ok := res.body.(tokenResponse)
	if res.status != http.StatusOK || !ok {
		return res
	}
	tr.TokenType = dpopTokenType
	if at := s.access[tr.AccessToken]; at != nil {
		at.jkt = p.jkt
	}
	if rt := s.refresh[tr.RefreshToken]; rt != nil && rt.fam.jkt == "" {
		rt.fam.jkt = p.jkt
	}
	res.body = tr
	return res
}

// refreshKeyMismatchLocked reports whether the refresh token family fam is
// bound to a DPoP key other than the one with thumbprint jkt, and counts
// the refused proof if so. jkt "" (DPoP mode off) and an unbound family
// never mismatch. s.mu must be held.
func (s *Server) refreshKeyMismatchLocked(fam *family, jkt string) bool {
	if jkt == "" || fam.jkt == "" || fam.jkt == jkt {
		return false
	}
	s.stats.DPoPProofsRejected++
	return true
}

// withDPoPNonceLocked returns res with the current nonce in its DPoP-Nonce header
// in DPoP mode, and res itself otherwise. s.mu must be held.
func (s *Server) withDPoPNonceLocked(res tokenResult) tokenResult {
	if !s.opts.DPoP {
		return res
	}
	h := make(map[string]string, len(res.header)+1)
	for k, v := range res.header {
		h[k] = v
	}
	h["DPoP-Nonce"] = s.dpopNonceLocked()
	res.header = h
	return res
}

// A resourceAuth is how a request to the resource in DPoP mode
// authenticates: its Authorization scheme, in lower case ("" for none or an
// unknown one), its token, and, for the DPoP scheme, its proof.
type resourceAuth struct {
	scheme string
	token  string
	proof  dpopProof
}

// readResourceAuth reads the Authorization and DPoP headers of r. It checks
// the proof of the DPoP scheme, so call it without s.mu.
func readResourceAuth(r *http.Request) resourceAuth {
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	switch {
	case found && strings.EqualFold(scheme, "Bearer"):
		return resourceAuth{scheme: "bearer", token: token}
	case found && strings.EqualFold(scheme, dpopTokenType):
		return resourceAuth{scheme: "dpop", token: token, proof: readDPoPProof(r, token)}
	}
	return resourceAuth{}
}

// dpopOffer is the challenge of the DPoP scheme without an error, which
// tells a client that the resource accepts it, and with what algorithms.
const dpopOffer = `DPoP realm="` + realm + `", algs="` + dpopAlg + `"`

// dpopChallenge returns a DPoP challenge (RFC 9449 §7.1) with an error code,
// a description, and the required scope if scope is not empty.
func dpopChallenge(code, desc, scope string) string {
	c := `DPoP realm="` + realm + `", error="` + code + `", error_description=` + quote(desc)
	if scope != "" {
		c += ", scope=" + quote(scope)
	}
	return c + `, algs="` + dpopAlg + `"`
}

// checkDPoPAccessLocked is checkAccessLocked in DPoP mode. It returns the
// response headers: the challenges, and the current nonce in DPoP-Nonce.
//
//   - No token, or an unknown scheme: 401 with a Bearer and a DPoP
//     challenge, neither with an error.
//   - The Bearer scheme: a DPoP-bound token gets 401 invalid_token; other
//     tokens are checked as checkAccessLocked does, and a 401 adds the DPoP
//     challenge.
//   - The DPoP scheme: a missing or stale nonce gets 401 use_dpop_nonce; a
//     proof that is otherwise invalid, 401 invalid_dpop_proof; a token that
//     is not DPoP-bound, or is bound to another key, 401 invalid_token; then
//     the checks of checkAccessLocked, answered with DPoP challenges.
//
// s.mu must be held.
func (s *Server) checkDPoPAccessLocked(a resourceAuth) (resp resourceResponse, status int, h http.Header) {
	h = http.Header{}
	defer func() { h.Set("DPoP-Nonce", s.dpopNonceLocked()) }()
	fail := func(code, desc string) (resourceResponse, int, http.Header) {
		h.Add("WWW-Authenticate", dpopChallenge(code, desc, ""))
		return resourceResponse{Error: code, ErrorDescription: desc}, http.StatusUnauthorized, h
	}

	switch a.scheme {
	case "":
		resp, status, challenge := s.checkAccessLocked("", false)
		h.Add("WWW-Authenticate", challenge)
		h.Add("WWW-Authenticate", dpopOffer)
		return resp, status, h
	case "bearer":
		if at := s.access[a.token]; at != nil && at.jkt != "" {
			desc := "the access token is DPoP-bound: send it with the DPoP scheme and a DPoP proof"
			h.Add("WWW-Authenticate", challengeFor("invalid_token", desc, ""))
			h.Add("WWW-Authenticate", dpopOffer)
			return resourceResponse{Error: "invalid_token", ErrorDescription: desc}, http.StatusUnauthorized, h
		}
		resp, status, challenge := s.checkAccessLocked(a.token, true)
		if challenge != "" {
			h.Add("WWW-Authenticate", challenge)
		}
		if status == http.StatusUnauthorized {
			h.Add("WWW-Authenticate", dpopOffer)
		}
		return resp, status, h
	}

	if code, desc := s.acceptProofLocked(a.proof); code != "" {
		return fail(code, desc)
	}
	at := s.access[a.token]
	switch {
	case at != nil && at.jkt == "":
		return fail("invalid_token", "the access token is not DPoP-bound: send it with the Bearer scheme")
	case at != nil && at.jkt != a.proof.jkt:
		s.stats.DPoPProofsRejected++
		return fail("invalid_token", "the access token is bound to another DPoP key than the proof's")
	}
	resp, status, _ = s.checkAccessLocked(a.token, true)
	switch status {
	case http.StatusOK:
	case http.StatusForbidden:
		h.Add("WWW-Authenticate", dpopChallenge(resp.Error, resp.ErrorDescription, s.scope))
	default:
		h.Add("WWW-Authenticate", dpopChallenge(resp.Error, resp.ErrorDescription, ""))
	}
	return resp, status, h
}
