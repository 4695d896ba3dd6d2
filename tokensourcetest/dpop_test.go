package tokensourcetest_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// This file checks the server's DPoP mode from the outside, with a DPoP
// signer of its own: the server must not agree with a client library only
// because they share code.

// dpopStart is where the clocks of these tests start: far from the real
// time, so that a server judging iat by the wrong clock fails them.
var dpopStart = time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)

// b64 is the base64url of JWS, without padding.
var b64 = base64.RawURLEncoding

// A proofKey signs DPoP proofs with an ES256 key.
type proofKey struct {
	priv *ecdsa.PrivateKey
	x, y string // the public key's coordinates, in base64url
}

func newProofKey(t testing.TB) *proofKey {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := priv.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		t.Fatal(err)
	}
	return &proofKey{priv: priv, x: b64.EncodeToString(pub[1:33]), y: b64.EncodeToString(pub[33:])}
}

// jwk returns the public key as a JWK.
func (k *proofKey) jwk() map[string]any {
	return map[string]any{"kty": "EC", "crv": "P-256", "x": k.x, "y": k.y}
}

// sign returns the compact JWS of header and claims, signed with ES256.
func (k *proofKey) sign(header, claims map[string]any) string {
	h, err := json.Marshal(header)
	if err != nil {
		panic(err)
	}
	c, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(c)
	digest := sha256.Sum256([]byte(input))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, digest[:])
	if err != nil {
		panic(err)
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return input + "." + b64.EncodeToString(sig)
}

// An edit changes the header or the claims of a proof before it is signed.
type edit func(header, claims map[string]any)

// proof returns a DPoP proof for a request with method to target, made at
// now, with a fresh jti. nonce "" leaves the nonce out, and token "" the
// ath. The edits apply last.
func (k *proofKey) proof(method, target, nonce, token string, now time.Time, edits ...edit) string {
	header := map[string]any{"typ": "dpop+jwt", "alg": "ES256", "jwk": k.jwk()}
	claims := map[string]any{"jti": rand.Text(), "htm": method, "htu": target, "iat": now.Unix()}
	if nonce != "" {
		claims["nonce"] = nonce
	}
	if token != "" {
		claims["ath"] = ath(token)
	}
	for _, e := range edits {
		e(header, claims)
	}
	return k.sign(header, claims)
}

// ath returns the hash of an access token that proofs carry.
func ath(token string) string {
	sum := sha256.Sum256([]byte(token))
	return b64.EncodeToString(sum[:])
}

// answer is a response of the token endpoint or the resource.
type answer struct {
	status int
	header http.Header

	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	RefreshToken     string `json:"refresh_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	OK               bool   `json:"ok"`
	Subject          string `json:"subject"`
}

func (a answer) String() string {
	return fmt.Sprintf("%d %q (%s)", a.status, a.Error, a.ErrorDescription)
}

// send sends req, with proofs as its DPoP headers, and decodes the JSON
// answer. It is safe to call from any goroutine.
func send(req *http.Request, proofs ...string) (answer, error) {
	for _, p := range proofs {
		req.Header.Add("DPoP", p)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	var a answer
	if len(body) > 0 {
		if err := json.Unmarshal(body, &a); err != nil {
			return answer{}, fmt.Errorf("answer %d is not JSON: %v: %q", resp.StatusCode, err, body)
		}
	}
	a.status, a.header = resp.StatusCode, resp.Header
	return a, nil
}

// tokenRequest builds a token request for form, with the default client
// credentials.
func tokenRequest(srv *tokensourcetest.Server, form url.Values) *http.Request {
	req, err := http.NewRequest(http.MethodPost, srv.TokenURL(), strings.NewReader(form.Encode()))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(tokensourcetest.DefaultClientID, tokensourcetest.DefaultClientSecret)
	return req
}

// postToken sends form to the token endpoint of srv with proofs.
func postToken(t *testing.T, srv *tokensourcetest.Server, form url.Values, proofs ...string) answer {
	t.Helper()
	a, err := send(tokenRequest(srv, form), proofs...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// resourceRequest builds a request to target with the Authorization
// header auth, if not "".
func resourceRequest(method, target, auth string) *http.Request {
	req, err := http.NewRequest(method, target, nil)
	if err != nil {
		panic(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	return req
}

// getResource sends a request to target with the Authorization header auth
// and proofs.
func getResource(t *testing.T, method, target, auth string, proofs ...string) answer {
	t.Helper()
	a, err := send(resourceRequest(method, target, auth), proofs...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// newDPoPServer starts a server in DPoP mode with opts, on a Clock.
func newDPoPServer(t *testing.T, opts tokensourcetest.Options) (*tokensourcetest.Server, *tokensourcetest.Clock) {
	t.Helper()
	clock := tokensourcetest.NewClock(dpopStart)
	opts.DPoP = true
	opts.Now = clock.Now
	srv := tokensourcetest.NewServer(&opts)
	t.Cleanup(srv.Close)
	return srv, clock
}

var (
	clientCredentials = url.Values{"grant_type": {"client_credentials"}}
	passwordGrant     = url.Values{"grant_type": {"password"},
		"username": {tokensourcetest.Username}, "password": {tokensourcetest.Password}}
)

func refreshGrant(rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
}

// obtain runs the grant form with a proof by k and the current nonce, and
// fails the test unless DPoP tokens come back.
func obtain(t *testing.T, srv *tokensourcetest.Server, clock *tokensourcetest.Clock, k *proofKey, form url.Values) answer {
	t.Helper()
	a := postToken(t, srv, form, k.proof("POST", srv.TokenURL(), srv.DPoPNonce(), "", clock.Now()))
	if a.status != http.StatusOK || a.TokenType != "DPoP" || a.AccessToken == "" {
		t.Fatalf("grant %s: got %v, token_type %q, want 200 with a DPoP token", form.Get("grant_type"), a, a.TokenType)
	}
	return a
}

// use sends a GET with token to the resource, with the DPoP scheme and a
// proof by k with the current nonce.
func use(t *testing.T, srv *tokensourcetest.Server, clock *tokensourcetest.Clock, k *proofKey, token string) answer {
	t.Helper()
	return getResource(t, "GET", srv.ResourceURL(), "DPoP "+token,
		k.proof("GET", srv.ResourceURL(), srv.DPoPNonce(), token, clock.Now()))
}

// wantAnswer fails the test unless a has the status and error code.
func wantAnswer(t *testing.T, a answer, status int, code string) {
	t.Helper()
	if a.status != status || a.Error != code {
		t.Fatalf("got %v, want %d %q", a, status, code)
	}
	if a.AccessToken != "" {
		t.Errorf("an error answer carries an access token")
	}
}

// wantChallenge fails the test unless a's WWW-Authenticate headers include
// one that starts with scheme and contains every one of parts.
func wantChallenge(t *testing.T, a answer, scheme string, parts ...string) {
	t.Helper()
	for _, c := range a.header.Values("WWW-Authenticate") {
		if !strings.HasPrefix(c, scheme+" ") {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(c, p)
		}
		if ok {
			return
		}
	}
	t.Errorf("WWW-Authenticate %q: no %s challenge with %q", a.header.Values("WWW-Authenticate"), scheme, parts)
}

// wantNonce fails the test unless a carries the server's current nonce.
func wantNonce(t *testing.T, srv *tokensourcetest.Server, a answer) {
	t.Helper()
	if got, want := a.header.Values("DPoP-Nonce"), srv.DPoPNonce(); len(got) != 1 || got[0] != want || want == "" {
		t.Errorf("DPoP-Nonce headers %q, want exactly [%q]", got, want)
	}
}

func TestDPoPNonceChallengeThenBoundToken(t *testing.T) {
	srv, clock := newDPoPServer(t, tokensourcetest.Options{})
	key, other := newProofKey(t), newProofKey(t)

	// The first request, without a nonce, is told which one to use.
	a := postToken(t, srv, clientCredentials, key.proof("POST", srv.TokenURL(), "", "", clock.Now()))
	wantAnswer(t, a, http.StatusBadRequest, "use_dpop_nonce")
	wantNonce(t, srv, a)
	if a.ErrorDescription == "" {
		t.Errorf("use_dpop_nonce without error_description")
	}
	nonce := a.header.Get("DPoP-Nonce")

	a = postToken(t, srv, clientCredentials, key.proof("POST", srv.TokenURL(), nonce, "", clock.Now()))
	if a.status != http.StatusOK || a.TokenType != "DPoP" {
		t.Fatalf("with the nonce: %v, token_type %q, want 200 DPoP", a, a.TokenType)
	}
	wantNonce(t, srv, a)
	token := a.AccessToken

	// The resource wants the nonce too.
	r := getResource(t, "GET", srv.ResourceURL(), "DPoP "+token,
		key.proof("GET", srv.ResourceURL(), "", token, clock.Now()))
	wantAnswer(t, r, http.StatusUnauthorized, "use_dpop_nonce")
	wantChallenge(t, r, "DPoP", `error="use_dpop_nonce"`, "error_description=")
	wantNonce(t, srv, r)

	r = getResource(t, "GET", srv.ResourceURL(), "DPoP "+token,
		key.proof("GET", srv.ResourceURL(), r.header.Get("DPoP-Nonce"), token, clock.Now()))
	if r.status != http.StatusOK || !r.OK {
		t.Fatalf("resource with the bound key: %v, want 200", r)
	}
	wantNonce(t, srv, r)

	// Another key is refused: the token is bound to the first one.
	r = use(t, srv, clock, other, token)
	wantAnswer(t, r, http.StatusUnauthorized, "invalid_token")
	wantChallenge(t, r, "DPoP", `error="invalid_token"`, `algs="ES256"`)
	wantNonce(t, srv, r)

	// So is the Bearer scheme, proof or not.
	r = getResource(t, "GET", srv.ResourceURL(), "Bearer "+token)
	wantAnswer(t, r, http.StatusUnauthorized, "invalid_token")
	wantChallenge(t, r, "Bearer", `error="invalid_token"`)
	wantChallenge(t, r, "DPoP", `algs="ES256"`)
	r = getResource(t, "GET", srv.ResourceURL(), "Bearer "+token,
		key.proof("GET", srv.ResourceURL(), srv.DPoPNonce(), token, clock.Now()))
	wantAnswer(t, r, http.StatusUnauthorized, "invalid_token")

	// No token at all: both schemes are offered.
	r = getResource(t, "GET", srv.ResourceURL(), "")
	if r.status != http.StatusUnauthorized {
		t.Errorf("no token: %v, want 401", r)
	}
	wantChallenge(t, r, "Bearer", `realm="tokensourcetest"`)
	wantChallenge(t, r, "DPoP", `algs="ES256"`)
	wantNonce(t, srv, r)

	want := tokensourcetest.Stats{
		TokenRequests:       2,
		Issued:              1,
		Resource200:         1,
		Resource401:         5,
		DPoPNonceChallenges: 2,
		DPoPProofsRejected:  1, // the other key
	}
	if diff := cmp.Diff(want, srv.Stats()); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

// authCode runs the authorization endpoint for a code, with PKCE.
func authCode(t *testing.T, srv *tokensourcetest.Server) url.Values {
	t.Helper()
	const redirect = "http://127.0.0.1:9/callback"
	verifier := oauth2.GenerateVerifier()
	conf := srv.Config()
	conf.RedirectURL = redirect
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(conf.AuthCodeURL("state", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %q, want a redirect with a code", resp.StatusCode, resp.Header.Get("Location"))
	}
	return url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirect}, "code_verifier": {verifier}}
}

// deviceCode starts a device authorization and approves it.
func deviceCode(t *testing.T, srv *tokensourcetest.Server) url.Values {
	t.Helper()
	resp, err := http.PostForm(srv.DeviceAuthURL(), url.Values{"client_id": {tokensourcetest.DefaultClientID}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var da struct {
		DeviceCode string `json:"device_code"`
		UserCode   string `json:"user_code"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&da); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("device authorization: %d %v", resp.StatusCode, err)
	}
	if err := srv.ApproveDevice(da.UserCode); err != nil {
		t.Fatal(err)
	}
	return url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {da.DeviceCode}}
}

func TestDPoPEveryGrant(t *testing.T) {
	grants := map[string]func(*testing.T, *tokensourcetest.Server, *tokensourcetest.Clock, *proofKey) url.Values{
		"client_credentials": func(*testing.T, *tokensourcetest.Server, *tokensourcetest.Clock, *proofKey) url.Values {
			return clientCredentials
		},
		"password": func(*testing.T, *tokensourcetest.Server, *tokensourcetest.Clock, *proofKey) url.Values {
			return passwordGrant
		},
		"refresh_token": func(t *testing.T, srv *tokensourcetest.Server, clock *tokensourcetest.Clock, k *proofKey) url.Values {
			return refreshGrant(obtain(t, srv, clock, k, passwordGrant).RefreshToken)
		},
		"authorization_code": func(t *testing.T, srv *tokensourcetest.Server, _ *tokensourcetest.Clock, _ *proofKey) url.Values {
			return authCode(t, srv)
		},
		"device_code": func(t *testing.T, srv *tokensourcetest.Server, _ *tokensourcetest.Clock, _ *proofKey) url.Values {
			return deviceCode(t, srv)
		},
	}
	for name, prepare := range grants {
		t.Run(name, func(t *testing.T) {
			srv, clock := newDPoPServer(t, tokensourcetest.Options{})
			key, other := newProofKey(t), newProofKey(t)
			form := prepare(t, srv, clock, key)

			// Without a proof the grant is refused, and nothing is used up.
			a := postToken(t, srv, form)
			wantAnswer(t, a, http.StatusBadRequest, "invalid_dpop_proof")
			wantNonce(t, srv, a)
			rejected := srv.Stats().DPoPProofsRejected

			a = obtain(t, srv, clock, key, form)
			if r := use(t, srv, clock, key, a.AccessToken); r.status != http.StatusOK {
				t.Errorf("resource with the key: %v, want 200", r)
			}
			if r := use(t, srv, clock, other, a.AccessToken); r.status != http.StatusUnauthorized {
				t.Errorf("resource with another key: %v, want 401", r)
			}
			if a.RefreshToken != "" {
				r := postToken(t, srv, refreshGrant(a.RefreshToken),
					other.proof("POST", srv.TokenURL(), srv.DPoPNonce(), "", clock.Now()))
				wantAnswer(t, r, http.StatusBadRequest, "invalid_grant")
				obtain(t, srv, clock, key, refreshGrant(a.RefreshToken))
			} else if name != "client_credentials" {
				t.Errorf("no refresh token")
			}
			st := srv.Stats()
			want := rejected + 1 // the resource with another key
			if a.RefreshToken != "" {
				want++ // the refresh with another key
			}
			if st.DPoPProofsRejected != want || st.ReuseDetected != 0 {
				t.Errorf("DPoPProofsRejected, ReuseDetected = %d, %d, want %d, 0", st.DPoPProofsRejected, st.ReuseDetected, want)
			}
		})
	}
}

func TestDPoPBadProofs(t *testing.T) {
	srv, clock := newDPoPServer(t, tokensourcetest.Options{})
	key, other := newProofKey(t), newProofKey(t)
	tokenURL := srv.TokenURL()
	set := func(where, name string, v any) edit {
		return func(h, c map[string]any) {
			m := c
			if where == "header" {
				m = h
			}
			if v == nil {
				delete(m, name)
			} else {
				m[name] = v
			}
		}
	}
	// proofWith makes a valid proof for the token endpoint, then edits it.
	proofWith := func(edits ...edit) string {
		return key.proof("POST", tokenURL, srv.DPoPNonce(), "", clock.Now(), edits...)
	}
	unsigned := func(alg string) string {
		h, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": alg, "jwk": key.jwk()})
		c, _ := json.Marshal(map[string]any{"jti": rand.Text(), "htm": "POST", "htu": tokenURL,
			"iat": clock.Now().Unix(), "nonce": srv.DPoPNonce()})
		return b64.EncodeToString(h) + "." + b64.EncodeToString(c) + "."
	}
	withPrivate := key.jwk()
	d, err := key.priv.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	withPrivate["d"] = b64.EncodeToString(d)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384pub, _ := p384.PublicKey.Bytes()
	p384jwk := map[string]any{"kty": "EC", "crv": "P-384",
		"x": b64.EncodeToString(p384pub[1:49]), "y": b64.EncodeToString(p384pub[49:])}

	bad := []struct {
		name   string
		proofs func() []string
	}{
		{"no proof", func() []string { return nil }},
		{"two proofs", func() []string { return []string{proofWith(), proofWith()} }},
		{"not a JWS", func() []string { return []string{"not.a-jws"} }},
		{"alg none", func() []string { return []string{unsigned("none")} }},
		{"alg HS256", func() []string { return []string{proofWith(set("header", "alg", "HS256"))} }},
		{"alg RS256", func() []string { return []string{proofWith(set("header", "alg", "RS256"))} }},
		{"typ JWT", func() []string { return []string{proofWith(set("header", "typ", "JWT"))} }},
		{"no typ", func() []string { return []string{proofWith(set("header", "typ", nil))} }},
		{"no jwk", func() []string { return []string{proofWith(set("header", "jwk", nil))} }},
		{"jwk with d", func() []string { return []string{proofWith(set("header", "jwk", withPrivate))} }},
		{"jwk of P-384", func() []string { return []string{proofWith(set("header", "jwk", p384jwk))} }},
		{"jwk not the signer's", func() []string { return []string{proofWith(set("header", "jwk", other.jwk()))} }},
		{"payload tampered", func() []string {
			p := strings.Split(proofWith(), ".")
			c, _ := json.Marshal(map[string]any{"jti": rand.Text(), "htm": "POST", "htu": tokenURL,
				"iat": clock.Now().Unix(), "nonce": srv.DPoPNonce()})
			return []string{p[0] + "." + b64.EncodeToString(c) + "." + p[2]}
		}},
		{"htm GET", func() []string { return []string{proofWith(set("claims", "htm", "GET"))} }},
		{"htm post", func() []string { return []string{proofWith(set("claims", "htm", "post"))} }},
		{"htu of the resource", func() []string { return []string{proofWith(set("claims", "htu", srv.ResourceURL()))} }},
		{"htu on another host", func() []string {
			return []string{proofWith(set("claims", "htu", strings.Replace(tokenURL, "127.0.0.1", "localhost", 1)))}
		}},
		{"htu https", func() []string {
			return []string{proofWith(set("claims", "htu", strings.Replace(tokenURL, "http:", "https:", 1)))}
		}},
		{"htu relative", func() []string { return []string{proofWith(set("claims", "htu", "/token"))} }},
		{"no htu", func() []string { return []string{proofWith(set("claims", "htu", nil))} }},
		{"iat 61s old", func() []string {
			return []string{proofWith(set("claims", "iat", clock.Now().Add(-61*time.Second).Unix()))}
		}},
		{"iat 61s ahead", func() []string {
			return []string{proofWith(set("claims", "iat", clock.Now().Add(61*time.Second).Unix()))}
		}},
		{"iat by the real clock", func() []string { return []string{proofWith(set("claims", "iat", time.Now().Unix()))} }},
		{"no iat", func() []string { return []string{proofWith(set("claims", "iat", nil))} }},
		{"iat a string", func() []string {
			return []string{proofWith(set("claims", "iat", fmt.Sprint(clock.Now().Unix())))}
		}},
		{"no jti", func() []string { return []string{proofWith(set("claims", "jti", nil))} }},
	}
	for i, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			a := postToken(t, srv, clientCredentials, c.proofs()...)
			wantAnswer(t, a, http.StatusBadRequest, "invalid_dpop_proof")
			wantNonce(t, srv, a)
			if st := srv.Stats(); st.DPoPProofsRejected != int64(i+1) || st.Issued != 0 || st.DPoPNonceChallenges != 0 {
				t.Errorf("DPoPProofsRejected, Issued, DPoPNonceChallenges = %d, %d, %d, want %d, 0, 0",
					st.DPoPProofsRejected, st.Issued, st.DPoPNonceChallenges, i+1)
			}
		})
	}

	// What RFC 9449 lets differ.
	upper := strings.Replace(tokenURL, "http://127.0.0.1", "HTTP://127.0.0.1", 1)
	good := []struct {
		name  string
		proof func() string
	}{
		{"htu with query and fragment", func() string { return proofWith(set("claims", "htu", tokenURL+"?a=b#frag")) }},
		{"htu with the scheme in upper case", func() string { return proofWith(set("claims", "htu", upper)) }},
		{"typ in upper case", func() string { return proofWith(set("header", "typ", "DPoP+JWT")) }},
		{"iat 59s old", func() string { return proofWith(set("claims", "iat", clock.Now().Add(-59*time.Second).Unix())) }},
		{"iat 59s ahead", func() string { return proofWith(set("claims", "iat", clock.Now().Add(59*time.Second).Unix())) }},
		{"fractional iat", func() string {
			return proofWith(set("claims", "iat", float64(clock.Now().UnixMilli())/1000+0.25))
		}},
		{"ath at the token endpoint", func() string { return proofWith(set("claims", "ath", "ignored")) }},
	}
	for _, c := range good {
		t.Run(c.name, func(t *testing.T) {
			a := postToken(t, srv, clientCredentials, c.proof())
			if a.status != http.StatusOK || a.TokenType != "DPoP" {
				t.Errorf("got %v, want 200 DPoP", a)
			}
		})
	}
}

func TestDPoPReplay(t *testing.T) {
	srv, clock := newDPoPServer(t, tokensourcetest.Options{})
	key := newProofKey(t)
	p := key.proof("POST", srv.TokenURL(), srv.DPoPNonce(), "", clock.Now())
	if a := postToken(t, srv, clientCredentials, p); a.status != http.StatusOK {
		t.Fatalf("first use: %v", a)
	}
	a := postToken(t, srv, clientCredentials, p)
	wantAnswer(t, a, http.StatusBadRequest, "invalid_dpop_proof")
	if !strings.Contains(a.ErrorDescription, "jti") {
		t.Errorf("error_description %q does not say the jti was replayed", a.ErrorDescription)
	}
	// A new proof with an old jti is a replay too.
	jti := func(h, c map[string]any) { c["jti"] = "fixed-jti" }
	if a := postToken(t, srv, clientCredentials, key.proof("POST", srv.TokenURL(), srv.DPoPNonce(), "", clock.Now(), jti)); a.status != http.StatusOK {
		t.Fatalf("a new jti: %v", a)
	}
	clock.Advance(time.Second)
	a = postToken(t, srv, clientCredentials, key.proof("POST", srv.TokenURL(), srv.DPoPNonce(), "", clock.Now(), jti))
	wantAnswer(t, a, http.StatusBadRequest, "invalid_dpop_proof")

	// At the resource, and across the two endpoints.
	token := obtain(t, srv, clock, key, clientCredentials).AccessToken
	rp := key.proof("GET", srv.ResourceURL(), srv.DPoPNonce(), token, clock.Now())
	if r := getResource(t, "GET", srv.ResourceURL(), "DPoP "+token, rp); r.status != http.StatusOK {
		t.Fatalf("resource, first use: %v", r)
	}
	r := getResource(t, "GET", srv.ResourceURL(), "DPoP "+token, rp)
	wantAnswer(t, r, http.StatusUnauthorized, "invalid_dpop_proof")
	wantChallenge(t, r, "DPoP", `error="invalid_dpop_proof"`)
	r = getResource(t, "GET", srv.ResourceURL(), "DPoP "+token,
		key.proof("GET", srv.ResourceURL(), srv.DPoPNonce(), token, clock.Now(), jti))
	wantAnswer(t, r, http.StatusUnauthorized, "invalid_dpop_proof")

	if st := srv.Stats(); st.DPoPProofsRejected != 4 {
		t.Errorf("DPoPProofsRejected = %d, want 4", st.DPoPProofsRejected)
	}
}

func TestDPoPResourceProofChecks(t *testing.T) {
	srv, clock := newDPoPServer(t, tokensourcetest.Options{})
	key := newProofKey(t)
	token := obtain(t, srv, clock, key, passwordGrant).AccessToken
	res := srv.ResourceURL()
	proofFor := func(method, target string, edits ...edit) string {
		return key.proof(method, target, srv.DPoPNonce(), token, clock.Now(), edits...)
	}
	setClaim := func(name string, v any) edit {
		return func(_, c map[string]any) {
			if v == nil {
				delete(c, name)
			} else {
				c[name] = v
			}
		}
	}

	bad := []struct {
		name           string
		method, target string
		proof          string
	}{
		{"ath of another token", "GET", res, proofFor("GET", res, setClaim("ath", ath("at_other")))},
		{"no ath", "GET", res, proofFor("GET", res, setClaim("ath", nil))},
		{"htm POST for a GET", "GET", res, proofFor("POST", res)},
		{"htu of the token endpoint", "GET", res, proofFor("GET", srv.TokenURL())},
		{"htu of another path", "GET", res + "/b", proofFor("GET", res+"/a")},
		{"iat 2 minutes old", "GET", res, proofFor("GET", res, setClaim("iat", clock.Now().Add(-2*time.Minute).Unix()))},
		{"alg none", "GET", res, func() string {
			p := strings.Split(proofFor("GET", res), ".")
			h, _ := json.Marshal(map[string]any{"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk()})
			return b64.EncodeToString(h) + "." + p[1] + "."
		}()},
		{"no proof", "GET", res, ""},
	}
	for i, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			var proofs []string
			if c.proof != "" {
				proofs = []string{c.proof}
			}
			r := getResource(t, c.method, c.target, "DPoP "+token, proofs...)
			wantAnswer(t, r, http.StatusUnauthorized, "invalid_dpop_proof")
			wantChallenge(t, r, "DPoP", `error="invalid_dpop_proof"`, `algs="ES256"`)
			wantNonce(t, srv, r)
			if got := srv.Stats().DPoPProofsRejected; got != int64(i+1) {
				t.Errorf("DPoPProofsRejected = %d, want %d", got, i+1)
			}
		})
	}

	// Paths below the resource, queries, methods with a body, and the
	// scheme in any case.
	r := getResource(t, "POST", res+"/a/b?x=1", "dpop "+token, proofFor("POST", res+"/a/b"))
	if r.status != http.StatusOK || r.Subject != tokensourcetest.Username {
		t.Errorf("POST below the resource: %v, want 200 for %q", r, tokensourcetest.Username)
	}

	// The token's own problems stay invalid_token, in a DPoP challenge.
	srv.ExpireAccessToken(token)
	r = use(t, srv, clock, key, token)
	wantAnswer(t, r, http.StatusUnauthorized, "invalid_token")
	wantChallenge(t, r, "DPoP", `error="invalid_token"`, "expired")
	r = use(t, srv, clock, key, "at_unknown")
	wantAnswer(t, r, http.StatusUnauthorized, "invalid_token")

	// A scope requirement is answered in the DPoP scheme.
	token = obtain(t, srv, clock, key, passwordGrant).AccessToken
	srv.RequireScope("admin")
	r = use(t, srv, clock, key, token)
	wantAnswer(t, r, http.StatusForbidden, "insufficient_scope")
	wantChallenge(t, r, "DPoP", `error="insufficient_scope"`, `scope="admin"`)
}

func TestDPoPLoginIsBearerUntilRefreshed(t *testing.T) {
	srv, clock := newDPoPServer(t, tokensourcetest.Options{})
	key, other := newProofKey(t), newProofKey(t)
	tok := srv.Login()
	if tok.TokenType != "Bearer" {
		t.Errorf("Login: token type %q, want Bearer", tok.TokenType)
	}
	if r := getResource(t, "GET", srv.ResourceURL(), "Bearer "+tok.AccessToken); r.status != http.StatusOK {
		t.Errorf("Login's token as Bearer: %v, want 200", r)
	}
	r := use(t, srv, clock, key, tok.AccessToken)
	wantAnswer(t, r, http.StatusUnauthorized, "invalid_token")
	wantChallenge(t, r, "DPoP", `error="invalid_token"`)

	// The first refresh binds the family to its key.
	a := obtain(t, srv, clock, key, refreshGrant(tok.RefreshToken))
	if r := use(t, srv, clock, key, a.AccessToken); r.status != http.StatusOK {
		t.Errorf("refreshed token with its key: %v", r)
	}
	r = postToken(t, srv, refreshGrant(a.RefreshToken), other.proof("POST", srv.TokenURL(), srv.DPoPNonce(), "", clock.Now()))
	wantAnswer(t, r, http.StatusBadRequest, "invalid_grant")
	if !strings.Contains(r.ErrorDescription, "DPoP key") {
		t.Errorf("error_description %q does not name the key", r.ErrorDescription)
	}
	obtain(t, srv, clock, key, refreshGrant(a.RefreshToken))
	if st := srv.Stats(); st.ReuseDetected != 0 || st.Refreshes != 2 || st.RefreshFailures != 1 || st.DPoPProofsRejected != 1 {
		t.Errorf("Stats: %+v, want 2 refreshes, 1 failure, 1 rejected proof, no reuse", st)
	}
}

func TestDPoPNonceRotation(t *testing.T) {
	srv, clock := newDPoPServer(t, tokensourcetest.Options{})
	key := newProofKey(t)
	token := obtain(t, srv, clock, key, clientCredentials).AccessToken
	old := srv.DPoPNonce()
	if srv.DPoPNonce() != old {
		t.Fatal("the nonce changed by itself")
	}
	srv.RotateDPoPNonce()
	if srv.DPoPNonce() == old {
		t.Fatal("RotateDPoPNonce kept the nonce")
	}

	a := postToken(t, srv, clientCredentials, key.proof("POST", srv.TokenURL(), old, "", clock.Now()))
	wantAnswer(t, a, http.StatusBadRequest, "use_dpop_nonce")
	wantNonce(t, srv, a)
	r := getResource(t, "GET", srv.ResourceURL(), "DPoP "+token,
		key.proof("GET", srv.ResourceURL(), old, token, clock.Now()))
	wantAnswer(t, r, http.StatusUnauthorized, "use_dpop_nonce")
	wantNonce(t, srv, r)
	r = getResource(t, "GET", srv.ResourceURL(), "DPoP "+token,
		key.proof("GET", srv.ResourceURL(), r.header.Get("DPoP-Nonce"), token, clock.Now()))
	if r.status != http.StatusOK {
		t.Errorf("with the new nonce: %v", r)
	}
	if st := srv.Stats(); st.DPoPNonceChallenges != 2 || st.DPoPProofsRejected != 0 {
		t.Errorf("DPoPNonceChallenges, DPoPProofsRejected = %d, %d, want 2, 0", st.DPoPNonceChallenges, st.DPoPProofsRejected)
	}
}

func TestDPoPNonceLifetime(t *testing.T) {
	srv, clock := newDPoPServer(t, tokensourcetest.Options{DPoPNonceLifetime: time.Minute})
	key := newProofKey(t)
	first := srv.DPoPNonce()
	clock.Advance(59 * time.Second)
	if srv.DPoPNonce() != first {
		t.Fatal("the nonce rotated before its lifetime")
	}
	clock.Advance(time.Second)
	second := srv.DPoPNonce()
	if second == first {
		t.Fatal("the nonce outlived its lifetime")
	}
	// A request may be what notices the rotation.
	clock.Advance(time.Minute)
	a := postToken(t, srv, clientCredentials, key.proof("POST", srv.TokenURL(), second, "", clock.Now()))
	wantAnswer(t, a, http.StatusBadRequest, "use_dpop_nonce")
	if n := a.header.Get("DPoP-Nonce"); n == second || n == first || n != srv.DPoPNonce() {
		t.Errorf("DPoP-Nonce %q after the lifetime, want a new one", n)
	}
}

func TestDPoPMetadata(t *testing.T) {
	for _, dpop := range []bool{false, true} {
		srv := tokensourcetest.NewServer(&tokensourcetest.Options{DPoP: dpop})
		resp, err := http.Get(srv.MetadataURL())
		if err != nil {
			t.Fatal(err)
		}
		var md map[string]any
		err = json.NewDecoder(resp.Body).Decode(&md)
		resp.Body.Close()
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		got, ok := md["dpop_signing_alg_values_supported"]
		switch {
		case dpop && !cmp.Equal(got, []any{"ES256"}):
			t.Errorf("DPoP mode: dpop_signing_alg_values_supported = %v, want [ES256]", got)
		case !dpop && ok:
			t.Errorf("without DPoP: dpop_signing_alg_values_supported = %v, want none", got)
		}
	}
}

func TestDPoPOff(t *testing.T) {
	clock := tokensourcetest.NewClock(dpopStart)
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now})
	defer srv.Close()
	key := newProofKey(t)
	if n := srv.DPoPNonce(); n != "" {
		t.Errorf("DPoPNonce() = %q without DPoP, want empty", n)
	}
	srv.RotateDPoPNonce() // does nothing

	// Proofs are ignored, tokens are Bearer tokens.
	a := postToken(t, srv, clientCredentials, key.proof("POST", srv.TokenURL(), "", "", clock.Now()))
	if a.status != http.StatusOK || a.TokenType != "Bearer" {
		t.Fatalf("got %v, token_type %q, want 200 Bearer", a, a.TokenType)
	}
	if n := a.header.Values("DPoP-Nonce"); n != nil {
		t.Errorf("DPoP-Nonce %q without DPoP", n)
	}
	r := getResource(t, "GET", srv.ResourceURL(), "Bearer "+a.AccessToken)
	if r.status != http.StatusOK || r.header.Values("DPoP-Nonce") != nil {
		t.Errorf("resource: %v, DPoP-Nonce %q; want 200 and none", r, r.header.Values("DPoP-Nonce"))
	}
	// The DPoP scheme is unknown: no token.
	r = getResource(t, "GET", srv.ResourceURL(), "DPoP "+a.AccessToken,
		key.proof("GET", srv.ResourceURL(), "", a.AccessToken, clock.Now()))
	if r.status != http.StatusUnauthorized || r.Error != "" {
		t.Errorf("DPoP scheme without DPoP: %v, want 401 without an error code", r)
	}
	if got := r.header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != `Bearer realm="tokensourcetest"` {
		t.Errorf("WWW-Authenticate %q, want the Bearer challenge alone", got)
	}
	if st := srv.Stats(); st.DPoPProofsRejected != 0 || st.DPoPNonceChallenges != 0 {
		t.Errorf("DPoP counters %+v without DPoP", st)
	}
}

func TestDPoPFaultsAndMethodCarryNonce(t *testing.T) {
	srv, clock := newDPoPServer(t, tokensourcetest.Options{})
	key := newProofKey(t)
	srv.FailNext(1, tokensourcetest.FaultServerError)
	a := postToken(t, srv, clientCredentials, key.proof("POST", srv.TokenURL(), srv.DPoPNonce(), "", clock.Now()))
	wantAnswer(t, a, http.StatusInternalServerError, "server_error")
	wantNonce(t, srv, a)

	req, _ := http.NewRequest(http.MethodGet, srv.TokenURL(), nil)
	a, err := send(req)
	if err != nil {
		t.Fatal(err)
	}
	wantAnswer(t, a, http.StatusMethodNotAllowed, "invalid_request")
	wantNonce(t, srv, a)

	// A refused client is refused after its proof was accepted.
	req = tokenRequest(srv, clientCredentials)
	req.SetBasicAuth(tokensourcetest.DefaultClientID, "wrong")
	a, err = send(req, key.proof("POST", srv.TokenURL(), srv.DPoPNonce(), "", clock.Now()))
	if err != nil {
		t.Fatal(err)
	}
	wantAnswer(t, a, http.StatusUnauthorized, "invalid_client")
	wantNonce(t, srv, a)
}

// TestDPoPConcurrent has clients, each with a key of its own, log in,
// refresh and call the resource at once, while the nonce rotates under
// them. Each follows the nonces the server sends, as RFC 9449 §8 has it.
func TestDPoPConcurrent(t *testing.T) {
	const clients, rounds = 16, 5
	srv, clock := newDPoPServer(t, tokensourcetest.Options{})

	// do sends the request that build makes for a nonce, again with the
	// nonce of the answer if it is use_dpop_nonce.
	do := func(nonce *string, build func(nonce string) (*http.Request, string)) (answer, error) {
		for range 20 {
			req, proof := build(*nonce)
			a, err := send(req, proof)
			if err != nil {
				return a, err
			}
			if n := a.header.Get("DPoP-Nonce"); n != "" {
				*nonce = n
			}
			if a.Error != "use_dpop_nonce" {
				return a, nil
			}
		}
		return answer{}, fmt.Errorf("still use_dpop_nonce after 20 tries")
	}

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	stop := make(chan struct{})
	var rotator sync.WaitGroup
	rotator.Go(func() {
		for range 10 {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				srv.RotateDPoPNonce()
			}
		}
	})
	for range clients {
		key := newProofKey(t)
		wg.Go(func() {
			nonce := ""
			grant := func(form url.Values) (answer, error) {
				return do(&nonce, func(n string) (*http.Request, string) {
					return tokenRequest(srv, form), key.proof("POST", srv.TokenURL(), n, "", clock.Now())
				})
			}
			a, err := grant(passwordGrant)
			if err != nil || a.status != http.StatusOK {
				errs <- fmt.Errorf("password grant: %v %v", a, err)
				return
			}
			for range rounds {
				if a, err = grant(refreshGrant(a.RefreshToken)); err != nil || a.status != http.StatusOK || a.TokenType != "DPoP" {
					errs <- fmt.Errorf("refresh: %v %v", a, err)
					return
				}
				token := a.AccessToken
				r, err := do(&nonce, func(n string) (*http.Request, string) {
					return resourceRequest("GET", srv.ResourceURL(), "DPoP "+token),
						key.proof("GET", srv.ResourceURL(), n, token, clock.Now())
				})
				if err != nil || r.status != http.StatusOK {
					errs <- fmt.Errorf("resource: %v %v", r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	rotator.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	st := srv.Stats()
	if st.DPoPProofsRejected != 0 || st.ReuseDetected != 0 {
		t.Errorf("DPoPProofsRejected, ReuseDetected = %d, %d, want 0, 0", st.DPoPProofsRejected, st.ReuseDetected)
	}
	if st.Issued != clients*(1+rounds) || st.Refreshes != clients*rounds || st.Resource200 != clients*rounds {
		t.Errorf("Issued, Refreshes, Resource200 = %d, %d, %d, want %d, %d, %d",
			st.Issued, st.Refreshes, st.Resource200, clients*(1+rounds), clients*rounds, clients*rounds)
	}
	// Every nonce challenge was a failed request, counted as such.
	if st.DPoPNonceChallenges != st.Resource401+st.RefreshFailures+(st.TokenRequests-st.Issued-st.RefreshFailures) {
		t.Errorf("DPoPNonceChallenges = %d, not the failed requests: %+v", st.DPoPNonceChallenges, st)
	}
}
