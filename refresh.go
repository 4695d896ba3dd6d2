package tokensource

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"golang.org/x/oauth2"
)

// Retries of a save of a token with a rotated refresh token while the
// store's lock is held (see saveLatest): the wait doubles from
// saveRetryMin, and no attempt starts after saveRetryFor. That bridges a
// blip; a store that stays down longer is left to the next refresh.
const (
	saveRetryMin = 50 * time.Millisecond
	saveRetryFor = 2 * time.Second
)

// The steps of a refresh that call code outside the package, named in its
// errors. A failure of stepLoad keeps the next flights off the store until
// the backoff has passed.
const (
	stepLoad    = "loading the store"
	stepLock    = "locking the store"
	stepUnlock  = "unlocking the store"
	stepRequest = "requesting a token"
	stepSave    = "saving the token"
)

// obtain is the refresh procedure of f. It returns the token to use next:
// one another process saved, or a new one from the RefreshFunc, saved
// before it is returned. Loading, waiting for the lock and the refresh
// share one deadline, RefreshTimeout; saving has a deadline of its own, so
// that a slow refresh cannot cost its token. Each step gets the values of
// f.ctx.
func (s *Source) obtain(f *flight) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(f.ctx, s.opts.refreshTimeout)
	defer cancel()
	now := s.now()
	if err := s.backedOff(f, now, true); err != nil {
		return nil, err
	}
	if tok, err := s.adoptStored(ctx, f, now); tok != nil || err != nil {
		return tok, err
	}
	if err := s.backedOff(f, now, false); err != nil {
		return nil, err
	}
	if s.locker != nil {
		unlock, err := s.lock(ctx, f)
		if err != nil {
			return nil, err
		}
		defer s.unlock(f, unlock)
		// Another process may have refreshed while we waited for the lock.
		if tok, err := s.adoptStored(ctx, f, s.now()); tok != nil || err != nil {
			return tok, err
		}
	}
	if s.latest != nil && !sameToken(s.latest, s.stored) {
		// The last save failed: save now, so that the newest refresh token
		// is in the store even if this refresh fails.
		s.saveLatest(f, false)
	}
	return s.callRefresh(ctx, f)
}

// backedOff returns the error f ends with instead of going on, after a
// failure whose backoff has not passed (see failure.backedOff). Before the
// store is loaded (beforeLoad), only a failure of the store itself stops f,
// so that a broken store is not read on every call; a token someone else
// saved is still adopted during the backoff of a failed refresh.
func (s *Source) backedOff(f *flight, now time.Time, beforeLoad bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if beforeLoad && !s.fail.storeDown {
		return nil
	}
	err := s.fail.backedOff(now, s.latest, f.force)
	f.backedOff = err != nil
	return err
}

// adoptStored loads the store and returns its token if it should replace
// the current one without a refresh.
func (s *Source) adoptStored(ctx context.Context, f *flight, now time.Time) (*oauth2.Token, error) {
	first := !s.loaded
	stored, changed, err := s.load(ctx, f, now)
	if err != nil || !changed || !s.adoptable(stored, f.force && first, now) {
		return nil, err
	}
	if first {
		f.first = true
	} else {
		// Another process, or a new login, saved it.
		s.stats.adopted.Add(1)
		s.opts.log.InfoContext(f.ctx, "tokensource: adopted a token saved by someone else", "expiry", stored.Expiry)
	}
	return stored, nil
}

// load reads the store. When it holds something other than what this
// Source last loaded or saved, someone else (another process, a new login)
// wrote it: it is newer than anything this Source has, and its refresh
// token is the one to use from now on, whether or not it is adopted. An
// emptied store (a deleted token file) leaves nothing to refresh with.
func (s *Source) load(ctx context.Context, f *flight, now time.Time) (stored *oauth2.Token, changed bool, err error) {
	err = f.call(stepLoad, func() (err error) {
		stored, err = s.store.Load(ctx)
		return err
	})
	if errors.Is(err, ErrNotFound) {
		stored, err = nil, nil
	}
	s.storeLoaded(f, stored != nil, err)
	if err != nil {
		return nil, false, s.failedLoading(f.ctx, stepError(stepLoad, err), now)
	}
	s.loaded = true
	stored = onWallClock(stored)
	if sameToken(stored, s.stored) {
		return stored, false, nil
	}
	s.stored, s.latest = stored, stored
	return stored, true, nil
}

// adoptable reports whether stored, a token someone else saved, should
// replace the current one without a refresh: it is still valid, and no
// server has rejected it here. A token the refresh is forced to replace
// (the first one loaded, when Refresh starts the Source) is not.
func (s *Source) adoptable(stored *oauth2.Token, replace bool, now time.Time) bool {
	if stored == nil || replace {
		return false
	}
	s.mu.Lock()
	rejected := stored.AccessToken == s.rejected
	s.mu.Unlock()
	return !rejected && newCached(stored, now, &s.opts).state(wallNanos(now)) != expired
}

// lock takes the store's cross-process lock, waiting no longer than ctx.
func (s *Source) lock(ctx context.Context, f *flight) (unlock func(), err error) {
	began := time.Now()
	err = f.call(stepLock, func() (err error) {
		unlock, err = s.locker.Lock(ctx)
		return err
	})
	f.lockWait += time.Since(began)
	if err == nil && unlock == nil {
		err = errors.New("the Locker returned neither an unlock function nor an error")
	}
	if err != nil {
		return nil, s.failed(f.ctx, stepError(stepLock, err), s.latest, s.now())
	}
	s.lockAcquired(f)
	return unlock, nil
}

// unlock releases the store's lock; a panic in unlock is logged.
func (s *Source) unlock(f *flight, unlock func()) {
	if err := f.call(stepUnlock, func() error { unlock(); return nil }); err != nil {
		s.logPanic(f.ctx, err)
	}
}

// callRefresh calls the RefreshFunc with the newest token known, and saves
// the token it returns before returning it.
func (s *Source) callRefresh(ctx context.Context, f *flight) (*oauth2.Token, error) {
	base := s.latest
	f.base = base
	var tok *oauth2.Token
	s.tokenRequest(f)
	err := f.call(stepRequest, func() (err error) {
		tok, err = s.refresh(ctx, cloneToken(base))
		return err
	})
	now := s.now()
	if err == nil && (tok == nil || tok.AccessToken == "") {
		err = errors.New("got no access token")
	}
	if err != nil {
		return nil, s.failed(f.ctx, stepError(stepRequest, classify(err)), base, now)
	}
	tok = complete(tok, base, now)
	s.latest = tok
	s.saveLatest(f, s.locker != nil && tok.RefreshToken != refreshToken(base))
	if newCached(tok, now, &s.opts).state(wallNanos(now)) == expired {
		// An absolute expiry read with clock skew, say: serving it would
		// have every call refresh again. Its refresh token is kept (saved
		// above).
		return nil, s.failed(f.ctx, stepError(stepRequest, fmt.Errorf("got a token that expired at %s", tok.Expiry.Format(time.RFC3339))), base, now)
	}
	f.refreshed = true
	return tok, nil
}

// complete returns a copy of tok, the response to a refresh from base, with
// base's refresh token when it has none (RFC 6749 §6: the old one stays
// valid), an Expiry from ExpiresIn when it has none, and an Expiry on the
// wall clock.
func complete(tok, base *oauth2.Token, now time.Time) *oauth2.Token {
	tok = cloneToken(tok)
	if tok.RefreshToken == "" && base != nil {
		tok.RefreshToken = base.RefreshToken
	}
	if tok.Expiry.IsZero() && tok.ExpiresIn > 0 {
		// Capped so that an absurd expires_in cannot overflow into the past.
		secs := min(tok.ExpiresIn, int64(math.MaxInt64/time.Second))
		tok.Expiry = now.Add(time.Duration(secs) * time.Second)
	}
	tok.Expiry = tok.Expiry.Round(0)
	return tok
}

// saveLatest saves the newest token known, unless the store holds it
// already. A failed save is logged and counted; the token stays the newest,
// saved again before the next refresh, and callers still use it.
//
// With retry (the token carries a rotated refresh token, and the store's
// lock is held), a failed save is tried again, with a backoff, for
// saveRetryFor: whoever takes the lock next would otherwise load the spent
// refresh token and present it again.
func (s *Source) saveLatest(f *flight, retry bool) {
	giveUp := time.Now().Add(saveRetryFor)
	attempts := 1
	for wait := saveRetryMin; ; wait *= 2 {
		err := s.save(f, s.latest)
		switch {
		case err == nil && attempts > 1:
			s.opts.log.WarnContext(f.ctx, "tokensource: saved the token after failed attempts", "attempts", attempts)
			return
		case err == nil:
			return
		case !retry || time.Now().Add(wait).After(giveUp):
			s.opts.log.ErrorContext(f.ctx, "tokensource: cannot save the token; keeping it in memory", "error", err, "attempts", attempts)
			return
		}
		time.Sleep(wait)
		attempts++
	}
}

// save stores tok once, unless the store holds it already, waiting no
// longer than RefreshTimeout from now.
func (s *Source) save(f *flight, tok *oauth2.Token) error {
	if sameToken(tok, s.stored) {
		return nil
	}
	ctx, cancel := context.WithTimeout(f.ctx, s.opts.refreshTimeout)
	defer cancel()
	err := stepError(stepSave, f.call(stepSave, func() error { return s.store.Save(ctx, tok) }))
	if err != nil {
		s.stats.saveErrors.Add(1)
		s.saved(f, err)
		s.logPanic(f.ctx, err)
		return err
	}
	s.stored = tok
	s.stats.saves.Add(1)
	s.saved(f, nil)
	return nil
}

// failed counts and logs (with ctx) a failed refresh from base at now, and
// notes it for the backoff.
func (s *Source) failed(ctx context.Context, err error, base *oauth2.Token, now time.Time) error {
	n, retryAt := s.note(err, base, now, false)
	s.logFailure(ctx, err, n, retryAt)
	return err
}

// failedLoading is failed for a store that could not be loaded: the backoff
// keeps flights off the store too.
func (s *Source) failedLoading(ctx context.Context, err error, now time.Time) error {
	n, retryAt := s.note(err, s.latest, now, true)
	s.logPanic(ctx, err)
	s.opts.log.ErrorContext(ctx, "tokensource: cannot load the stored token", "error", err, "failures", n, "retry_at", retryAt)
	return err
}

// note counts a failed refresh and records it for the backoff, and returns
// the failures in a row and when the backoff ends.
func (s *Source) note(err error, base *oauth2.Token, now time.Time, storeDown bool) (n int, retryAt time.Time) {
	s.stats.refreshErrors.Add(1)
	wait, _ := retryAfter(err, now)
	reauth := errors.Is(err, ErrReauthRequired)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail.record(err, wait, reauth, now, base)
	s.fail.storeDown = storeDown
	return s.fail.n, s.fail.retryAt
}

// logFailure logs a failed refresh, the n-th in a row.
func (s *Source) logFailure(ctx context.Context, err error, n int, retryAt time.Time) {
	s.logPanic(ctx, err)
	s.opts.log.WarnContext(ctx, "tokensource: refresh failed", "error", err, "failures", n, "retry_at", retryAt)
}

// logPanic logs the stack of a panic behind err, if any.
func (s *Source) logPanic(ctx context.Context, err error) {
	var p *stepPanic
	if errors.As(err, &p) {
		s.opts.log.ErrorContext(ctx, "tokensource: "+p.step+" panicked", "panic", p.value, "stack", string(p.stack))
	}
}
