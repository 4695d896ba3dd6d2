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
// one someone else saved, or a new one from the RefreshFunc, saved before
// it is returned. Loading, waiting for the lock and recording the intent
// share one deadline, RefreshTimeout; the token request and saving have
// deadlines of their own, so that a slow step cannot cost the token the
// refresh got. Each step gets the values of f.ctx.
func (s *Source) obtain(f *flight) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(f.ctx, s.opts.refreshTimeout)
	defer cancel()
	if err := s.takeTurn(ctx); err != nil {
		return nil, s.failed(f, stepError(stepLoad, err), s.latest, s.now())
	}
	defer s.endTurn()
	f.logouts = s.logouts.Load()
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
	var lease Lease
	if s.locker != nil {
		lockCtx := ctx
		if s.opts.login != nil {
			// Another Source may hold the lock for a whole login, whose
			// token this one adopts rather than log in again: it waits
			// as long, and has a RefreshTimeout of its own after.
			var cancelLock context.CancelFunc
			lockCtx, cancelLock = context.WithTimeout(f.ctx, s.opts.refreshTimeout+s.opts.loginTimeout)
			defer cancelLock()
		}
		var err error
		if lease, err = s.lock(lockCtx, f); err != nil {
			return nil, err
		}
		defer s.unlock(f, lease)
		if lockCtx != ctx {
			ctx, cancel = context.WithTimeout(f.ctx, s.opts.refreshTimeout)
			defer cancel()
		}
		// Another process may have refreshed while we waited for the lock.
		if tok, err := s.adoptStored(ctx, f, s.now()); tok != nil || err != nil {
			return tok, err
		}
	}
	if s.latest != nil && !sameToken(s.latest, s.stored) {
		// The last save failed, or the store lost the record: save now,
		// so that the newest refresh token is in the store even if this
		// refresh fails.
		if _, err := s.saveLatest(f, false); err != nil && f.loggedOut {
			return nil, s.failed(f, err, nil, s.now())
		}
	}
	deadline, _ := ctx.Deadline()
	if s.grant.shared() && refreshToken(s.latest) != "" {
		waited := time.Now()
		tok, err := s.claim(f, lease)
		if tok != nil || err != nil {
			return tok, err
		}
		if time.Since(waited) > s.opts.refreshTimeout/2 {
			// claim waited for another Source's intent: the request gets
			// a whole RefreshTimeout of its own.
			deadline = time.Now().Add(s.opts.refreshTimeout)
		}
	}
	return s.callRefresh(f, lease, deadline)
}

// takeTurn waits until the Source may use the store, or ctx ends.
func (s *Source) takeTurn(ctx context.Context) error {
	select {
	case s.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Source) endTurn() { <-s.turn }

// backedOff returns the error f ends with instead of going on, after a
// failure whose backoff has not passed (see failure.backedOff). Before the
// store is loaded (beforeLoad), only a failure of the store itself stops f,
// so that a broken store is not read on every call. Callers that only learn
// of a backoff start no flight (TokenContext checks it first), so a token
// someone else saved is adopted by the first flight after the backoff, or
// by a forced one.
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

// load reads the store. When it holds a token other than the one this
// Source last loaded or saved, someone else (another process, a new login)
// wrote it: it is newer than anything this Source has, and its refresh
// token is the one to use from now on, whether or not it is adopted.
//
// A store that lost its record while this Source holds a refresh token (a
// flushed cache, a restored backup) has lost data, not logged out: the
// token is kept, and saved back before the next refresh. A tombstone is a
// log-out: the Source forgets its tokens, and the flight ends with an error
// wrapping ErrReauthRequired and ErrLoggedOut.
func (s *Source) load(ctx context.Context, f *flight, now time.Time) (stored *oauth2.Token, changed bool, err error) {
	var rec *Record
	err = f.call(stepLoad, func() (err error) {
		rec, err = s.grant.get(ctx)
		return err
	})
	s.storeLoaded(f, rec != nil && !rec.LoggedOut, err)
	if err == nil {
		err = s.takeDPoPKey(rec)
	}
	if err != nil {
		return nil, false, s.failedLoading(f, stepError(stepLoad, err), now)
	}
	s.loaded = true
	switch {
	case recordToken(rec) == nil && (rec == nil || !rec.LoggedOut) && s.grant.shared() && refreshToken(s.latest) != "":
		// Nothing stored, or only the cooldown of a login that failed
		// elsewhere: the grant this Source holds is the one to keep.
		if recordToken(s.rec) != nil {
			s.opts.log.WarnContext(f.ctx, "tokensource: the store lost the grant; saving it back")
		}
		s.rec, s.stored = rec, nil
		return nil, false, nil
	case rec != nil && rec.LoggedOut:
		s.rec, s.stored, s.latest = rec, nil, nil
		f.loggedOut = true
		return nil, false, s.failed(f, errLoggedOut, nil, now)
	}
	stored = onWallClock(recordToken(rec))
	prev := s.stored
	s.rec, s.stored = rec, stored
	if sameToken(stored, prev) {
		return stored, false, nil
	}
	s.latest = stored
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

// lock takes the store's cross-process lock, waiting no longer than ctx:
// a Lease from a Leaser, or a Lock that cannot be lost.
func (s *Source) lock(ctx context.Context, f *flight) (lease Lease, err error) {
	began := time.Now()
	err = f.call(stepLock, func() (err error) {
		lease, err = s.acquire(ctx)
		return err
	})
	f.lockWait += time.Since(began)
	if err != nil {
		return nil, s.failed(f, stepError(stepLock, err), s.latest, s.now())
	}
	s.lockAcquired(f)
	return lease, nil
}

// acquire takes the store's lock: a Lease from a Leaser, or a Lock that
// cannot be lost. A lease this Source kept for a save still owed is taken
// over: asking for it again would wait for itself. The caller holds the
// turn.
func (s *Source) acquire(ctx context.Context) (Lease, error) {
	if lease := s.takeKeptLease(); lease != nil {
		return lease, nil
	}
	if s.leaser != nil {
		lease, err := s.leaser.Lease(ctx)
		if err == nil && lease == nil {
			err = errors.New("the Leaser returned neither a lease nor an error")
		}
		return lease, err
	}
	unlock, err := s.locker.Lock(ctx)
	if err == nil && unlock == nil {
		err = errors.New("the Locker returned neither an unlock function nor an error")
	}
	return unlockLease(unlock), err
}

// unlock releases the store's lock, unless it is kept for a save still
// owed (keepLease); a panic in it is logged.
func (s *Source) unlock(f *flight, lease Lease) {
	if s.keepLease(lease) {
		return
	}
	if err := f.call(stepUnlock, func() error { s.release(lease); return nil }); err != nil {
		s.logPanic(f.ctx, err)
	}
}

// release gives lease back, and keeps what Wait waits for: the end of the
// release's background work, if the lease says when.
func (s *Source) release(lease Lease) {
	lease.Release()
	if r, ok := lease.(interface{ Released() <-chan struct{} }); ok {
		s.mu.Lock()
		s.released = r.Released()
		s.mu.Unlock()
	}
}

// unlockLease is the Lease of a Locker: it is never lost.
type unlockLease func()

func (unlockLease) Lost() <-chan struct{} { return nil }
func (u unlockLease) Release()            { u() }

// callRefresh calls the RefreshFunc with the newest token known, and saves
// the token it returns before returning it. It sends nothing on a lease
// already lost: whoever holds the lock now may be refreshing.
func (s *Source) callRefresh(f *flight, lease Lease, deadline time.Time) (*oauth2.Token, error) {
	base := s.latest
	f.base = base
	if lease != nil && isClosed(lease.Lost()) {
		return nil, s.failed(f, stepError(stepRequest, errLeaseLost), base, s.now())
	}
	ctx, cancel := s.requestContext(f.ctx, deadline)
	defer cancel()
	var tok *oauth2.Token
	s.tokenRequest(f)
	err := f.call(stepRequest, func() (err error) {
		tok, err = s.refresh(s.withDPoP(ctx, s.client), cloneToken(base))
		return err
	})
	now := s.now()
	if err == nil && (tok == nil || tok.AccessToken == "") {
		err = errors.New("got no access token")
	}
	if err != nil {
		s.dropIntent(f, err)
		return nil, s.failed(f, stepError(stepRequest, classify(err)), base, now)
	}
	tok = complete(tok, base, now)
	s.latest = tok
	if stored, err := s.saveLatest(f, s.locker != nil && tok.RefreshToken != refreshToken(base)); stored != nil || f.loggedOut {
		// Someone saved another grant meanwhile (a login), or logged out:
		// that one stands, and this refresh's token is dropped.
		if err != nil {
			return nil, s.failed(f, err, nil, now)
		}
		if s.adoptable(stored, false, now) {
			s.stats.adopted.Add(1)
			return stored, nil
		}
		return nil, s.failed(f, stepError(stepSave, errSuperseded), base, now)
	}
	if newCached(tok, now, &s.opts).state(wallNanos(now)) == expired {
		// An absolute expiry read with clock skew, say: serving it would
		// have every call refresh again. Its refresh token is kept (saved
		// above).
		return nil, s.failed(f, stepError(stepRequest, fmt.Errorf("got a token that expired at %s", tok.Expiry.Format(time.RFC3339))), base, now)
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
// saved again in the background (resave.go) and before the next refresh,
// and callers still use it.
//
// With retry (the token carries a rotated refresh token, and the store's
// lock is held), a failed save is tried again, with a backoff, for
// saveRetryFor: whoever takes the lock next would otherwise find the spent
// refresh token.
//
// When the store holds another grant than the one refreshed (someone saved
// a login meanwhile), saveLatest writes nothing and returns that grant's
// token; after a log-out, it returns the error to end the flight with.
func (s *Source) saveLatest(f *flight, retry bool) (superseded *oauth2.Token, err error) {
	giveUp := time.Now().Add(saveRetryFor)
	attempts := 1
	for wait := saveRetryMin; ; wait *= 2 {
		superseded, err = s.save(f, s.latest)
		switch {
		case superseded != nil || f.loggedOut:
			return superseded, err
		case err == nil && attempts > 1:
			s.opts.log.WarnContext(f.ctx, "tokensource: saved the token after failed attempts", "attempts", attempts)
			return nil, nil
		case err == nil:
			return nil, nil
		case !retry || time.Now().Add(wait).After(giveUp):
			s.opts.log.ErrorContext(f.ctx, "tokensource: cannot save the token; keeping it in memory", "error", err, "attempts", attempts)
			s.scheduleResave()
			return nil, err
		}
		time.Sleep(wait)
		attempts++
	}
}

// save stores tok once, in place of the record last read or written,
// unless the store holds it already, waiting no longer than RefreshTimeout
// from now. When the record changed meanwhile, it is read again: another
// grant saved in it (see saveLatest) is returned; an intent, or a record
// lost, is written over.
func (s *Source) save(f *flight, tok *oauth2.Token) (superseded *oauth2.Token, err error) {
	if sameToken(tok, s.stored) && !s.ownIntent() {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(f.ctx, s.opts.refreshTimeout)
	defer cancel()
	next := &Record{Token: tok, DPoPKey: s.dpop.stored()}
	for range 2 {
		err = stepError(stepSave, f.call(stepSave, func() error { return s.grant.put(ctx, s.rec, next) }))
		if !errors.Is(err, ErrConflict) {
			break
		}
		var rec *Record
		if rec, err = s.grant.get(ctx); err != nil {
			err = stepError(stepSave, err)
			break
		}
		switch other := s.reread(f, rec); {
		case f.loggedOut:
			return nil, errLoggedOut
		case other != nil:
			return other, nil
		}
		err = stepError(stepSave, ErrConflict)
	}
	if err != nil {
		s.stats.saveErrors.Add(1)
		s.saved(f, err)
		s.logPanic(f.ctx, err)
		return nil, err
	}
	s.rec, s.stored = next, tok
	s.stats.saves.Add(1)
	s.saved(f, nil)
	return nil, nil
}

// reread takes in rec, what the store holds after a save found the record
// changed. It returns rec's token if it is another grant than the one this
// Source refreshed (a login saved meanwhile), which then becomes the
// newest token; it notes a tombstone in f. An intent of someone else on
// the same grant, or a record lost, is left to be written over.
func (s *Source) reread(f *flight, rec *Record) *oauth2.Token {
	switch {
	case rec == nil || rec.Token == nil && !rec.LoggedOut:
		// Lost, or only a failed login's cooldown: written over.
		s.rec = rec
		return nil
	case rec.LoggedOut:
		s.rec, s.stored, s.latest = rec, nil, nil
		f.loggedOut = true
		return nil
	}
	tok := onWallClock(rec.Token)
	s.rec = rec
	s.takeDPoPKey(rec) // another grant's key; an error shows at the next load
	if sameToken(tok, s.stored) || sameToken(tok, s.latest) {
		return nil
	}
	s.stored, s.latest = tok, tok
	return tok
}

// failed logs (with f's ctx) a failed refresh of f from base at now, and
// notes it for the backoff.
func (s *Source) failed(f *flight, err error, base *oauth2.Token, now time.Time) error {
	n, retryAt := s.note(f, err, base, now, false)
	s.logFailure(f.ctx, err, n, retryAt)
	return err
}

// failedLoading is failed for a store that could not be loaded: the backoff
// keeps flights off the store too.
func (s *Source) failedLoading(f *flight, err error, now time.Time) error {
	n, retryAt := s.note(f, err, s.latest, now, true)
	s.logPanic(f.ctx, err)
	s.opts.log.ErrorContext(f.ctx, "tokensource: cannot load the stored token", "error", err, "failures", n, "retry_at", retryAt)
	return err
}

// note records a failure of f for the backoff, and returns the failures
// in a row and when the backoff ends. A flight fails once: a second
// failure of f (its login, after its refresh token was refused) takes the
// place of the first. The flight's publish counts it in Stats.
func (s *Source) note(f *flight, err error, base *oauth2.Token, now time.Time, storeDown bool) (n int, retryAt time.Time) {
	wait, _ := retryAfter(err, now)
	reauth := errors.Is(err, ErrReauthRequired)
	again := f.noted
	f.noted = true
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail.record(err, wait, reauth, now, base, again)
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
