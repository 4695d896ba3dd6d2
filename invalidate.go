package tokensource

import (
	"context"

	"golang.org/x/oauth2"
)

// Invalidate tells the Source that a server rejected this token (say, with
// a 401). If it is still the current token, the Source drops it, and the next
// call that needs a token refreshes; a token taken from the store is then
// never one with this access token. If a newer token is already current,
// Invalidate does nothing, so that N requests failing with the same token
// cause one refresh. A nil token is ignored.
//
// A token fresh from the RefreshFunc that is rejected before any Confirm of
// it never worked. One such token may have been revoked before its first
// use; when the token before it never worked either, the rejection counts
// as a failed refresh, and the next refresh waits for the backoff, so that
// a server that rejects every token (a proxy that strips the Authorization
// header, a wrong audience) does not cost a refresh per request. Code that
// calls Invalidate should therefore call Confirm when a request succeeds,
// as Transport does.
//
// Invalidate is InvalidateContext with context.Background.
func (s *Source) Invalidate(rejected *oauth2.Token) {
	s.InvalidateContext(context.Background(), rejected)
}

// InvalidateContext is Invalidate for a request made with ctx: its log
// lines and the Invalidated hook ([Hooks]) get ctx, and so the request's
// trace. It does not wait for anything; ctx may have ended. A nil ctx
// means context.Background.
func (s *Source) InvalidateContext(ctx context.Context, rejected *oauth2.Token) {
	if ctx == nil {
		ctx = context.Background()
	}
	if rejected == nil {
		return
	}
	now := s.now()
	s.mu.Lock()
	c := s.cur.Load()
	if c == nil || c.dead || c.tok.AccessToken != rejected.AccessToken {
		s.mu.Unlock()
		return
	}
	dead := c.rejected()
	s.cur.Store(dead)
	s.rejected = rejected.AccessToken
	// A single unused token rejected is no pattern: it may just have been
	// revoked (an admin, another device) as soon as it was issued.
	neverWorked := dead.unused && c.wasted > 0
	if neverWorked {
		s.fail.n = c.streak
		s.fail.record(errNeverWorked, 0, false, now, nil, false)
	}
	n, retryAt := s.fail.n, s.fail.retryAt
	s.mu.Unlock()

	s.stats.invalidations.Add(1)
	s.opts.log.InfoContext(ctx, "tokensource: token rejected, will refresh", "expiry", c.tok.Expiry)
	if neverWorked {
		s.stats.refreshErrors.Add(1)
		s.logFailure(ctx, errNeverWorked, n, retryAt)
	}
	s.invalidated(ctx, c.tok.Expiry, neverWorked)
}

// Confirm tells the Source that a server accepted a request carrying tok:
// call it when a response does not reject the token, as Transport does for
// every response but a 401. It matters only for a token fresh from the
// RefreshFunc: once confirmed, its rejection is a revocation, which costs one
// refresh, rather than a sign that the server rejects every new token (see
// Invalidate). A nil token, and a token other than the current one, are
// ignored.
//
// Confirm is cheap enough to call for every response: it writes only the
// first time for each token, and otherwise only reads.
func (s *Source) Confirm(tok *oauth2.Token) {
	if tok == nil {
		return
	}
	if c := s.cur.Load(); c != nil && c.unconfirmed.Load() && c.tok.AccessToken == tok.AccessToken {
		c.unconfirmed.Store(false)
	}
}
