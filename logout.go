package tokensource

import (
	"context"
	"errors"

	"golang.org/x/oauth2"
)

// Logout ends the grant. Under the store's lock, it
//
//   - revokes the newest refresh token, read from the store under the lock
//     (another process may have rotated it), and the access token, at
//     [Options.RevocationURL] (RFC 7009), authenticating as the Config of
//     [FromConfig] says; with no RevocationURL it tells no server;
//   - writes a tombstone ([Records.Delete]; Delete for a Store that is not
//     a [Backend]): the store's Load reports an error wrapping [ErrLoggedOut]
//     and [ErrNotFound], and a Source of another process finds it at its
//     next load, serves its cached token no longer, and never writes the
//     grant back;
//   - and makes this Source serve its cached token no longer, at once, even
//     if the rest failed.
//
// Afterwards, a Source with [Options.Login] logs in again at its next use;
// one without returns [ErrReauthRequired].
//
// A revocation that failed (an error response, a 5xx, no response) still
// logs out locally, and Logout returns an error that says the server was
// not told: the tokens may still be good there. ctx bounds the whole of it.
func (s *Source) Logout(ctx context.Context) error {
	defer s.forget()
	if err := s.takeTurn(ctx); err != nil {
		return wrap("logging out", err)
	}
	defer s.endTurn()
	if s.locker != nil {
		lease, err := s.acquire(ctx)
		if err != nil {
			return wrap("logging out: "+stepLock, err)
		}
		defer s.release(lease)
	}
	rec, err := s.grant.get(ctx)
	if err != nil {
		return wrap("logging out: "+stepLoad, err)
	}
	tok := recordToken(rec)
	if tok == nil {
		tok = s.latest // the store lost it: this Source's copy is the newest
	}
	revoked := s.revokeGrant(ctx, tok)
	s.logouts.Add(1)
	if err := s.tombstone(ctx, rec); err != nil {
		return errors.Join(wrap("logging out: writing the tombstone", err), revoked)
	}
	s.stored, s.latest = nil, nil
	s.opts.log.InfoContext(ctx, "tokensource: logged out", "revoked", revoked == nil && s.opts.revocationURL != "")
	return revoked
}

// revokeGrant revokes tok's refresh token and access token at the
// revocation endpoint, if there is one, and returns what failed.
func (s *Source) revokeGrant(ctx context.Context, tok *oauth2.Token) error {
	if s.opts.revocationURL == "" || tok == nil {
		return nil
	}
	var errs []error
	// The refresh token first: revoking it may revoke the access tokens
	// issued with it (RFC 7009 §2.1), and it is the one that lasts.
	if tok.RefreshToken != "" {
		errs = append(errs, revoke(ctx, s.client, s.opts.revocationURL, s.auth, tok.RefreshToken, "refresh_token"))
	}
	if tok.AccessToken != "" {
		errs = append(errs, revoke(ctx, s.client, s.opts.revocationURL, s.auth, tok.AccessToken, "access_token"))
	}
	return errors.Join(errs...)
}

// tombstone writes a tombstone over rec, what the store holds, by
// compare-and-swap; when the record changed meanwhile (a Source that
// does not take the lock), it reads it again and writes over that.
func (s *Source) tombstone(ctx context.Context, rec *Record) error {
	next := &Record{LoggedOut: true}
	for attempt := 0; ; attempt++ {
		err := s.grant.put(ctx, rec, next)
		if err == nil || !errors.Is(err, ErrConflict) || attempt == 2 {
			if err == nil {
				s.rec = next
			}
			return err
		}
		if rec, err = s.grant.get(ctx); err != nil {
			return err
		}
	}
}

// forget makes the Source serve no token until it loads the store again:
// at its next use, it finds the tombstone.
func (s *Source) forget() {
	s.mu.Lock()
	s.cur.Store(nil)
	s.mu.Unlock()
}
