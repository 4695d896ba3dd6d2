package tokensourcetest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
)

// realm is the realm of the resource's Bearer challenges.
const realm = "tokensourcetest"

// RequireScope makes the protected resource require scope from now on:
// requests with an otherwise valid access token whose scope does not include
// it get 403 with
//
//	WWW-Authenticate: Bearer realm="tokensourcetest", error="insufficient_scope", error_description="...", scope="<scope>"
//
// (RFC 6750 §3.1). "" turns the requirement off. Access tokens carry the
// scope requested when they were issued (the scope form parameter), or none;
// Login issues tokens with no scope.
func (s *Server) RequireScope(scope string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scope = scope
}

// resourceResponse is the JSON body of the protected resource's responses.
type resourceResponse struct {
	OK               bool   `json:"ok"`
	Subject          string `json:"subject,omitempty"`
	BodyBytes        *int64 `json:"body_bytes,omitempty"`
	BodySHA256       string `json:"body_sha256,omitempty"`
	Error            string `json:"error,omitempty"`
	ErrorDescription string `json:"error_description,omitempty"`
}

// serveResource is the protected resource. See checkAccessLocked for the
// responses it gives, and checkDPoPAccessLocked for those in DPoP mode.
func (s *Server) serveResource(w http.ResponseWriter, r *http.Request) {
	// Read the whole body first, so that its size and digest can be
	// reported and the connection can be reused whatever the response.
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		s.setDPoPNonce(w)
		http.Error(w, "reading the request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var auth resourceAuth
	if s.opts.DPoP {
		auth = readResourceAuth(r) // before locking: verifying a signature is slow
	}
	token, sent := bearerToken(r)

	s.mu.Lock()
	var resp resourceResponse
	var status int
	header := http.Header{}
	if s.opts.DPoP {
		resp, status, header = s.checkDPoPAccessLocked(auth)
	} else {
		var challenge string
		resp, status, challenge = s.checkAccessLocked(token, sent)
		if challenge != "" {
			header.Set("WWW-Authenticate", challenge)
		}
	}
	switch status {
	case http.StatusOK:
		s.stats.Resource200++
	case http.StatusUnauthorized:
		s.stats.Resource401++
	case http.StatusForbidden:
		s.stats.Resource403++
	}
	s.mu.Unlock()

	if status == http.StatusOK && r.Method != http.MethodGet && r.Method != http.MethodHead {
		resp.BodyBytes = &n
		resp.BodySHA256 = hex.EncodeToString(h.Sum(nil))
	}
	for k, v := range header {
		w.Header()[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(resp) // the client may be gone; nothing to do
}

// checkAccessLocked decides the resource's response for the Bearer token
// token, which the request carried if sent is true:
//
//   - no token: 401 with a challenge without an error code (RFC 6750 §3.1);
//   - an unknown, expired (by the server clock or ExpireAccessToken), revoked,
//     or revoked-family token: 401 invalid_token;
//   - a valid token lacking the scope set by RequireScope: 403
//     insufficient_scope;
//   - otherwise 200, with the token's subject.
//
// s.mu must be held.
func (s *Server) checkAccessLocked(token string, sent bool) (resp resourceResponse, status int, challenge string) {
	if !sent {
		return resourceResponse{ErrorDescription: "no access token"},
			http.StatusUnauthorized, `Bearer realm="` + realm + `"`
	}
	invalid := func(desc string) (resourceResponse, int, string) {
		return resourceResponse{Error: "invalid_token", ErrorDescription: desc},
			http.StatusUnauthorized, challengeFor("invalid_token", desc, "")
	}
	at := s.access[token]
	switch {
	case at == nil:
		return invalid("unknown access token")
	case at.killed != "":
		return invalid(at.killed)
	case at.fam != nil && at.fam.revoked:
		return invalid("the token family was revoked")
	case !s.now().Before(at.expiry):
		return invalid("the access token expired")
	case s.scope != "" && !hasScope(at.scope, s.scope):
		desc := "the access token lacks the required scope"
		return resourceResponse{Error: "insufficient_scope", ErrorDescription: desc},
			http.StatusForbidden, challengeFor("insufficient_scope", desc, s.scope)
	}
	return resourceResponse{OK: true, Subject: at.subject}, http.StatusOK, ""
}

// challengeFor returns a Bearer challenge with an error code, a description,
// and the required scope if scope is not empty.
func challengeFor(code, desc, scope string) string {
	c := `Bearer realm="` + realm + `", error="` + code + `", error_description=` + quote(desc)
	if scope != "" {
		c += ", scope=" + quote(scope)
	}
	return c
}

// quote returns s as an HTTP quoted-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// bearerToken returns the token of the request's Bearer Authorization
// header, whose scheme is matched case-insensitively, and whether there was
// one. A header with another scheme counts as no token.
func bearerToken(r *http.Request) (token string, ok bool) {
	scheme, token, found := strings.Cut(r.Header.Get("Authorization"), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(token), true
}
