package tokensourcetest

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// maxFormBytes bounds the size of a token request body.
const maxFormBytes = 1 << 20

// tokenResponse is a successful token response (RFC 6749 §5.1).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// errorResponse is an error response (RFC 6749 §5.2).
type errorResponse struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// A tokenResult is the response to one token request. It is decided while
// s.mu is held and written after it is released.
type tokenResult struct {
	status int
	header map[string]string
	body   any
}

func tokenOK(is issued) tokenResult {
	return tokenResult{status: http.StatusOK, body: tokenResponse{
		AccessToken:  is.access,
		TokenType:    "Bearer",
		ExpiresIn:    int64(is.lifetime / time.Second),
		RefreshToken: is.refresh,
		Scope:        is.scope,
	}}
}

func tokenError(status int, code, desc string) tokenResult {
	return tokenResult{status: status, body: errorResponse{Error: code, Description: desc}}
}

func invalidRequest(desc string) tokenResult {
	return tokenError(http.StatusBadRequest, "invalid_request", desc)
}

func invalidGrant(desc string) tokenResult {
	return tokenError(http.StatusBadRequest, "invalid_grant", desc)
}

func invalidClient(desc string) tokenResult {
	r := tokenError(http.StatusUnauthorized, "invalid_client", desc)
	r.header = map[string]string{"WWW-Authenticate": `Basic realm="tokensourcetest"`}
	return r
}

// write sends r as a JSON response that no cache may keep.
func (r tokenResult) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	for k, v := range r.header {
		h.Set(k, v)
	}
	w.WriteHeader(r.status)
	json.NewEncoder(w).Encode(r.body) // the client may be gone; nothing to do
}

// serveToken is the token endpoint.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	s.mu.Lock()
	s.stats.TokenRequests++
	fault := s.nextFaultLocked() // taken in order of arrival
	latency := s.latency
	s.mu.Unlock()

	var parseErr error
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		parseErr = r.ParseForm()
	}
	if !s.wait(r.Context(), latency) {
		dropConnection(w)
		return
	}
	switch fault {
	case 0:
		s.handleToken(r, parseErr).write(w)
	case FaultLoseResponse:
		s.handleToken(r, parseErr)
		dropConnection(w)
	default:
		if r.Method == http.MethodPost && r.PostForm.Get("grant_type") == "refresh_token" {
			s.mu.Lock()
			s.stats.RefreshFailures++
			s.mu.Unlock()
		}
		s.setDPoPNonce(w)
		s.serveFault(w, r, fault)
	}
}

// handleToken decides the response to a token request whose form was parsed
// with the error parseErr, and counts it. In DPoP mode, it checks the
// request's proof first, and adds the DPoP-Nonce header.
func (s *Server) handleToken(r *http.Request, parseErr error) tokenResult {
	if r.Method != http.MethodPost {
		res := tokenError(http.StatusMethodNotAllowed, "invalid_request", "the token endpoint accepts only POST")
		res.header = map[string]string{"Allow": http.MethodPost}
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.withDPoPNonceLocked(res)
	}
	var proof dpopProof
	if s.opts.DPoP {
		proof = readDPoPProof(r, "") // before locking: verifying a signature is slow
	}
	grant := r.PostForm.Get("grant_type")
	s.mu.Lock()
	defer s.mu.Unlock()
	var res tokenResult
	if s.opts.DPoP {
		res = s.withDPoPNonceLocked(s.dpopGrantLocked(r, parseErr, proof))
	} else {
		res = s.grantLocked(r, parseErr, "")
	}
	if grant == "refresh_token" {
		if res.status == http.StatusOK {
			s.stats.Refreshes++
		} else {
			s.stats.RefreshFailures++
		}
	}
	return res
}

// grantLocked authenticates the client and runs the requested grant. jkt is
// the thumbprint of the request's DPoP key, or "" outside DPoP mode. s.mu
// must be held.
func (s *Server) grantLocked(r *http.Request, parseErr error, jkt string) tokenResult {
	if parseErr != nil {
		return invalidRequest("malformed form body: " + parseErr.Error())
	}
	form := r.PostForm
	for k, v := range form {
		if len(v) > 1 {
			return invalidRequest(fmt.Sprintf("parameter %q is repeated", k))
		}
	}
	if desc := s.authenticateClient(r, form); desc != "" {
		return invalidClient(desc)
	}
	switch grant := form.Get("grant_type"); grant {
	case "refresh_token":
		return s.refreshGrantLocked(form, jkt)
	case "client_credentials":
		is := s.issueAccessLocked(nil, s.opts.ClientID, form.Get("scope"))
		return tokenOK(is)
	case "password":
		return s.passwordGrantLocked(form)
	case "authorization_code":
		return s.codeGrantLocked(form)
	case deviceGrantType:
		return s.deviceGrantLocked(form)
	case "":
		return invalidRequest("missing grant_type")
	default:
		return tokenError(http.StatusBadRequest, "unsupported_grant_type",
			fmt.Sprintf("grant type %q is not supported", grant))
	}
}

// authenticateClient checks the client credentials of a token request, sent
// either in a Basic Authorization header with URL-encoded parts (RFC 6749
// §2.3.1) or as client_id and client_secret form fields. It returns "" if they
// are right, and otherwise why they are not.
func (s *Server) authenticateClient(r *http.Request, form url.Values) string {
	var id, secret string
	hUser, hPass, inHeader := r.BasicAuth()
	if inHeader {
		var err1, err2 error
		id, err1 = url.QueryUnescape(hUser)
		secret, err2 = url.QueryUnescape(hPass)
		if err1 != nil || err2 != nil {
			return "malformed client credentials in the Authorization header"
		}
	}
	_, idInForm := form["client_id"]
	_, secretInForm := form["client_secret"]
	switch {
	case inHeader && (idInForm && form.Get("client_id") != id ||
		secretInForm && form.Get("client_secret") != secret):
		return "client credentials in the Authorization header and the form differ"
	case !inHeader && !idInForm:
		return "client authentication required"
	case !inHeader:
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	idOK := subtle.ConstantTimeCompare([]byte(id), []byte(s.opts.ClientID)) == 1
	secretOK := subtle.ConstantTimeCompare([]byte(secret), []byte(s.opts.ClientSecret)) == 1
	if !idOK || !secretOK {
		return "unknown client or wrong client secret"
	}
	return ""
}

// passwordGrantLocked runs the resource owner password credentials grant
// (RFC 6749 §4.3): the right Username and Password start a new family.
func (s *Server) passwordGrantLocked(form url.Values) tokenResult {
	user, pass := form.Get("username"), form.Get("password")
	if user == "" || pass == "" {
		return invalidRequest("missing username or password")
	}
	if user != Username || pass != Password {
		return invalidGrant("wrong username or password")
	}
	return tokenOK(s.loginLocked(Username, form.Get("scope")))
}

// refreshGrantLocked runs the refresh_token grant (RFC 6749 §6), with
// rotation and reuse detection (RFC 9700 §4.14.2) unless Options say
// otherwise. In DPoP mode, jkt is the thumbprint of the request's key, which
// must be the one the family is bound to, if it is bound.
func (s *Server) refreshGrantLocked(form url.Values, jkt string) tokenResult {
	token := form.Get("refresh_token")
	if token == "" {
		return invalidRequest("missing refresh_token")
	}
	rt := s.refresh[token]
	if rt == nil {
		return invalidGrant("unknown refresh token")
	}
	fam := rt.fam
	if fam.revoked {
		return invalidGrant("the refresh token was revoked")
	}
	if s.refreshKeyMismatchLocked(fam, jkt) {
		return invalidGrant("the refresh token is bound to another DPoP key than the proof's (RFC 9449 §5)")
	}
	scope := form.Get("scope")
	if scope == "" {
		scope = fam.scope
	} else if !subset(scope, fam.scope) {
		return tokenError(http.StatusBadRequest, "invalid_scope",
			"the requested scope exceeds the scope originally granted")
	}

	if !s.opts.NoRotation {
		now := s.now()
		if rt.used && !s.inGrace(rt, now) {
			fam.revoked = true
			s.stats.ReuseDetected++
			return invalidGrant("refresh token reuse detected: its family was revoked")
		}
		if !rt.used {
			rt.used = true
			rt.usedAt = now
		}
	}
	fam.refreshes++
	is := s.issueAccessLocked(fam, fam.subject, scope)
	is.refresh = token
	if !s.opts.NoRotation {
		is.refresh = s.issueRefreshLocked(fam)
	}
	return tokenOK(is)
}

// inGrace reports whether the used refresh token rt may still be exchanged at
// time now because Options.ReuseGrace has not passed since its first use.
func (s *Server) inGrace(rt *refreshToken, now time.Time) bool {
	return s.opts.ReuseGrace > 0 && now.Before(rt.usedAt.Add(s.opts.ReuseGrace))
}
