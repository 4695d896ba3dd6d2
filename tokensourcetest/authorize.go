package tokensourcetest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// codeLifetime is how long an authorization code may wait for its
// exchange, by the server clock: RFC 6749 §4.1.2 recommends at most 10
// minutes, and a client exchanges it within a second.
const codeLifetime = time.Minute

// codePrefix begins authorization codes, as accessPrefix begins access
// tokens.
const codePrefix = "ac_"

// An authCode is the server's record of an authorization code: what it was
// bound to when issued, which the token request must match.
type authCode struct {
	redirectURI string
	challenge   string // the S256 code_challenge
	scope       string
	expiry      time.Time
	used        bool
	fam         *family // issued for it, revoked if the code is used again
}

// DenyConsent makes the scripted user deny every authorization from now on
// when deny is true, and approve again when it is false. A denied request
// to the authorization endpoint is redirected with error=access_denied
// (RFC 6749 §4.1.2.1), and a user code opened on the device verification
// page is denied, so that its device gets access_denied (RFC 8628 §3.5).
// Codes and device approvals already given are not affected.
func (s *Server) DenyConsent(deny bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denyConsent = deny
}

// serveAuthorize is the authorization endpoint (RFC 6749 §4.1.1) of a
// native-app client (RFC 8252): the scripted user approves (or denies) at
// once, and the response is a redirect to redirect_uri. A request whose
// client or redirect URI is wrong gets an error page instead, as §4.1.2.1
// requires: redirecting it would send the user somewhere unknown.
func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "the authorization endpoint accepts only GET", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	for k, v := range q {
		if len(v) > 1 {
			http.Error(w, fmt.Sprintf("parameter %q is repeated", k), http.StatusBadRequest)
			return
		}
	}
	if q.Get("client_id") != s.opts.ClientID {
		http.Error(w, "unknown client_id", http.StatusBadRequest)
		return
	}
	redirect, desc := loopbackRedirect(q.Get("redirect_uri"))
	if desc != "" {
		http.Error(w, desc, http.StatusBadRequest)
		return
	}
	params := s.authorize(q)
	if st := q.Get("state"); st != "" {
		params.Set("state", st)
	}
	http.Redirect(w, r, withQuery(redirect, params), http.StatusFound)
}

// authorize decides the response to a valid client's authorization request
// q: a new code bound to its PKCE challenge and redirect URI, or an error.
func (s *Server) authorize(q url.Values) url.Values {
	fail := func(code, desc string) url.Values {
		return url.Values{"error": {code}, "error_description": {desc}}
	}
	switch {
	case q.Get("response_type") != "code":
		return fail("unsupported_response_type", "only the code response type is supported")
	case q.Get("code_challenge_method") != "S256":
		return fail("invalid_request", "PKCE is required, with code_challenge_method S256")
	case !validChallenge(q.Get("code_challenge")):
		return fail("invalid_request", "code_challenge must be 43 characters of base64url")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denyConsent {
		return fail("access_denied", "the user denied the request")
	}
	code := newToken(codePrefix)
	s.codes[code] = &authCode{
		redirectURI: q.Get("redirect_uri"),
		challenge:   q.Get("code_challenge"),
		scope:       q.Get("scope"),
		expiry:      s.now().Add(codeLifetime),
	}
	s.stats.Authorizations++
	return url.Values{"code": {code}}
}

// loopbackRedirect parses a native app's redirect URI, which must be an http
// URL on a loopback IP literal, with any port (RFC 8252 §7.3), and no
// fragment. "localhost" is refused: RFC 8252 §8.3 advises against it, as a
// name may resolve elsewhere. desc says what is wrong, or is "".
func loopbackRedirect(raw string) (u *url.URL, desc string) {
	if raw == "" {
		return nil, "missing redirect_uri"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Fragment != "" || u.User != nil {
		return nil, "redirect_uri must be an http URL without a fragment"
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return nil, "redirect_uri must be on a loopback IP address such as 127.0.0.1 or [::1]"
	}
	return u, ""
}

// withQuery returns u with params added to its query.
func withQuery(u *url.URL, params url.Values) string {
	v := u.Query()
	for k, vs := range params {
		v[k] = vs
	}
	c := *u
	c.RawQuery = v.Encode()
	return c.String()
}

// validChallenge reports whether c has the form of an S256 code challenge:
// a SHA-256 digest in unpadded base64url (RFC 7636 §4.2).
func validChallenge(c string) bool {
	b, err := base64.RawURLEncoding.DecodeString(c)
	return err == nil && len(b) == sha256.Size
}

// codeGrantLocked runs the authorization_code grant (RFC 6749 §4.1.3) with
// PKCE (RFC 7636 §4.6): the code must be unused and unexpired, redirect_uri
// must be the one it was issued for, and code_verifier must hash to its
// challenge. A code presented twice revokes the tokens issued for it, as
// §4.1.2 advises. s.mu must be held.
func (s *Server) codeGrantLocked(form url.Values) tokenResult {
	code, verifier := form.Get("code"), form.Get("code_verifier")
	if code == "" {
		return invalidRequest("missing code")
	}
	ac := s.codes[code]
	switch {
	case ac == nil:
		return invalidGrant("unknown authorization code")
	case ac.used:
		ac.fam.revoked = true
		return invalidGrant("the authorization code was already used: the tokens issued for it were revoked")
	case !s.now().Before(ac.expiry):
		return invalidGrant("the authorization code expired")
	case form.Get("redirect_uri") != ac.redirectURI:
		return invalidGrant("redirect_uri differs from the authorization request's")
	case verifier == "":
		return invalidRequest("missing code_verifier: the code was issued with PKCE")
	case !verifies(verifier, ac.challenge):
		return invalidGrant("code_verifier does not match the code_challenge")
	}
	ac.used = true
	is := s.loginLocked(Username, ac.scope)
	ac.fam = s.refresh[is.refresh].fam
	s.stats.CodeExchanges++
	return tokenOK(is)
}

// verifies reports whether the PKCE verifier, 43 to 128 characters
// (RFC 7636 §4.1), hashes to the S256 challenge.
func verifies(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	got := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(got), []byte(challenge)) == 1
}
