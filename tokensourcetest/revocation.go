package tokensourcetest

import (
	"fmt"
	"net/http"
)

// SetRevocationUnavailable makes the revocation endpoint respond 503
// temporarily_unavailable with Retry-After: 2 to every request while down is
// true, revoking nothing, as RFC 7009 §2.2.1 has a server do when it cannot
// revoke now. false brings it back.
func (s *Server) SetRevocationUnavailable(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokeDown = down
}

// Revoked reports whether token, an access or refresh token this server
// issued, has been revoked: at the revocation endpoint, by RevokeFamily or
// RevokeAccessToken, or with its family after detected reuse. An expired
// access token is not revoked; an unknown token is not either.
func (s *Server) Revoked(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rt := s.refresh[token]; rt != nil {
		return rt.fam.revoked
	}
	if at := s.access[token]; at != nil {
		return at.fam != nil && at.fam.revoked || at.killed == "the access token was revoked"
	}
	return false
}

// serveRevoke is the revocation endpoint (RFC 7009 §2). A refresh token
// revokes its whole family, the access tokens issued with it included, as
// §2.1 advises; an access token revokes itself alone. The response is 200
// whether or not the server knew the token (§2.2): the client's purpose, a
// token nobody can use, is met either way. token_type_hint is only a hint;
// both kinds are looked up whatever it says.
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		res := tokenError(http.StatusMethodNotAllowed, "invalid_request", "the revocation endpoint accepts only POST")
		res.header = map[string]string{"Allow": http.MethodPost}
		res.write(w)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	parseErr := r.ParseForm()
	s.mu.Lock()
	res := s.revokeLocked(r, parseErr)
	s.mu.Unlock()
	if res.status == http.StatusOK {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		return
	}
	res.write(w)
}

// revokeLocked decides the response to a revocation request whose form was
// parsed with the error parseErr, and revokes. s.mu must be held.
func (s *Server) revokeLocked(r *http.Request, parseErr error) tokenResult {
	s.stats.RevocationRequests++
	if s.revokeDown {
		res := tokenError(http.StatusServiceUnavailable, "temporarily_unavailable", "the revocation endpoint is down")
		res.header = map[string]string{"Retry-After": "2"}
		return res
	}
	if parseErr != nil {
		return invalidRequest("malformed form body: " + parseErr.Error())
	}
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return invalidRequest(fmt.Sprintf("parameter %q is repeated", k))
		}
	}
	if desc := s.authenticateClient(r, r.PostForm); desc != "" {
		return invalidClient(desc)
	}
	token := r.PostForm.Get("token")
	if token == "" {
		return invalidRequest("missing token")
	}
	if rt := s.refresh[token]; rt != nil {
		rt.fam.revoked = true
		s.stats.Revocations++
	} else if at := s.access[token]; at != nil {
		at.killed = "the access token was revoked"
		s.stats.Revocations++
	}
	return tokenResult{status: http.StatusOK}
}
