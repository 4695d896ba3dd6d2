package tokensourcetest

import (
	"crypto/rand"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Token prefixes. They make the two kinds of token easy to tell apart in test
// output; the rest of each token is crypto/rand.Text: 26 base32 characters,
// over 128 random bits.
const (
	accessPrefix  = "at_"
	refreshPrefix = "rt_"
)

// A family is the set of tokens descending from one login: its first token
// pair and every pair obtained by refreshing them. Revoking it kills all of
// them at once.
type family struct {
	subject   string
	scope     string // granted at login; refreshes keep it
	revoked   bool
	refreshes int64  // refresh_token grants that produced a token
	jkt       string // thumbprint of the DPoP key it is bound to, or ""
}

// An accessToken is the server's record of an issued access token.
type accessToken struct {
	fam     *family // nil for client_credentials tokens
	subject string
	scope   string
	expiry  time.Time // judged with the server clock
	killed  string    // why it was expired or revoked early; "" if it was not
	jkt     string    // thumbprint of the DPoP key it is bound to, or ""
}

// A refreshToken is the server's record of an issued refresh token.
type refreshToken struct {
	fam    *family
	used   bool
	usedAt time.Time // server time of the first use, for the grace window
}

// newToken returns a fresh unguessable token with the given prefix.
func newToken(prefix string) string {
	return prefix + rand.Text()
}

// issued is what a grant produced, ready to be sent or returned.
type issued struct {
	access, refresh string
	scope           string
	expiry          time.Time
	lifetime        time.Duration
}

// oauth2Token converts i into the *oauth2.Token a client would hold after
// receiving it.
func (i issued) oauth2Token() *oauth2.Token {
	return &oauth2.Token{
		AccessToken:  i.access,
		TokenType:    "Bearer",
		RefreshToken: i.refresh,
		Expiry:       i.expiry,
		ExpiresIn:    int64(i.lifetime / time.Second),
	}
}

// issueAccessLocked records a new access token for fam (nil for a client
// without a user) and returns it. s.mu must be held.
func (s *Server) issueAccessLocked(fam *family, subject, scope string) issued {
	now := s.now()
	tok := newToken(accessPrefix)
	exp := now.Add(s.opts.AccessTokenLifetime)
	s.access[tok] = &accessToken{fam: fam, subject: subject, scope: scope, expiry: exp}
	s.stats.Issued++
	return issued{access: tok, scope: scope, expiry: exp, lifetime: s.opts.AccessTokenLifetime}
}

// issueRefreshLocked records a new, unused refresh token in fam and returns
// it. s.mu must be held.
func (s *Server) issueRefreshLocked(fam *family) string {
	tok := newToken(refreshPrefix)
	s.refresh[tok] = &refreshToken{fam: fam}
	return tok
}

// loginLocked starts a new family for subject with the given scope and
// returns its first token pair. s.mu must be held.
func (s *Server) loginLocked(subject, scope string) issued {
	fam := &family{subject: subject, scope: scope}
	is := s.issueAccessLocked(fam, subject, scope)
	is.refresh = s.issueRefreshLocked(fam)
	return is
}

// Login mints a first token pair for the user Username, as if they had
// completed an authorization flow: a new refresh-token family with no scope.
// The token's Expiry is set from the server clock, and ExpiresIn from the
// access-token lifetime. Each call starts an independent family.
func (s *Server) Login() *oauth2.Token {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loginLocked(Username, "").oauth2Token()
}

// ExpireAccessToken makes the access token access expire now: the resource
// responds 401 invalid_token for it from now on. Its refresh token, and the
// rest of its family, stay good, so a client that refreshes recovers. Unknown
// tokens are ignored.
func (s *Server) ExpireAccessToken(access string) {
	s.killAccess(access, "the access token expired")
}

// RevokeAccessToken revokes the access token access: the resource responds
// 401 invalid_token for it from now on. Like ExpireAccessToken, it leaves its
// refresh token and family good; only the error_description differs. Unknown
// tokens are ignored.
func (s *Server) RevokeAccessToken(access string) {
	s.killAccess(access, "the access token was revoked")
}

func (s *Server) killAccess(access, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if at := s.access[access]; at != nil && at.killed == "" {
		at.killed = why
	}
}

// RevokeFamily revokes the family that token belongs to; token may be any
// access or refresh token of it, used or not. All of the family's refresh
// tokens then fail with invalid_grant and all of its access tokens get 401
// invalid_token, as after detected reuse. An access token from the
// client_credentials grant has no family and is revoked alone. Unknown tokens
// are ignored.
func (s *Server) RevokeFamily(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rt := s.refresh[token]; rt != nil {
		rt.fam.revoked = true
		return
	}
	if at := s.access[token]; at != nil {
		if at.fam != nil {
			at.fam.revoked = true
		} else if at.killed == "" {
			at.killed = "the access token was revoked"
		}
	}
}

// hasScope reports whether the space-separated scope list granted contains
// want.
func hasScope(granted, want string) bool {
	return slices.Contains(strings.Fields(granted), want)
}

// subset reports whether every scope in the space-separated list req is also
// in granted.
func subset(req, granted string) bool {
	for _, sc := range strings.Fields(req) {
		if !hasScope(granted, sc) {
			return false
		}
	}
	return true
}
