package tokensource

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"golang.org/x/oauth2"
)

// A flight is one run of the refresh procedure: load the store, adopt a
// token another process saved, or refresh and save. Everyone who needs a
// token while it runs waits for it and gets its result.
type flight struct {
	force bool          // skip the backoff of earlier failures
	done  chan struct{} // closed when tok and err are set
	tok   *oauth2.Token
	err   error
}

// wait returns the flight's result, or ctx.Err() if ctx ends first.
func (f *flight) wait(ctx context.Context) (*oauth2.Token, error) {
	select {
	case <-f.done:
		return f.tok, f.err
	default:
	}
	testHookWaiting()
	select {
	case <-f.done:
		return f.tok, f.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// testHookWaiting is called when a caller starts waiting for a running
// flight; tests replace it to know that every caller is waiting.
var testHookWaiting = func() {}

// start returns the running flight, or starts one. s.mu must be held.
func (s *Source) start(force bool) *flight {
	if s.flight == nil {
		s.flight = &flight{force: force, done: make(chan struct{})}
		go s.run(s.flight)
	}
	return s.flight
}

// run carries out f, detached from every caller, and publishes its result.
func (s *Source) run(f *flight) {
	tok, err := s.obtain(f.force)

	s.mu.Lock()
	if err == nil {
		s.cur.Store(newCached(tok, s.now(), &s.opts))
	}
	s.flight = nil
	s.mu.Unlock()

	f.tok, f.err = tok, err
	close(f.done)
}

// obtain returns the token to use next: one another process saved, or a new
// one from the RefreshFunc, saved before it is returned.
func (s *Source) obtain(force bool) (*oauth2.Token, error) {
	adopted, stored, changed, err := s.check(force)
	if adopted != nil || err != nil {
		return adopted, err
	}
	if err := s.fail.gate(s.now(), changed, force); err != nil {
		return nil, err
	}
	if s.locker != nil {
		unlock, err := s.lock()
		if err != nil {
			return nil, err
		}
		defer unlock()
		// Another process may have refreshed while we waited for the lock.
		adopted, stored, changed, err = s.check(force)
		if adopted != nil || err != nil {
			return adopted, err
		}
	}
	base := s.base(stored, changed)
	if s.unsaved && !changed {
		// The last save failed: save before the refresh, so the newest
		// refresh token is on disk even if the refresh fails.
		s.save(base)
	}
	tok, err := s.callRefresh(base)
	if err != nil {
		return nil, err
	}
	s.save(tok)
	return tok, nil
}

// check loads the store and adopts its token if it should replace the
// current one; otherwise adopted is nil and stored is what the store holds.
func (s *Source) check(force bool) (adopted, stored *oauth2.Token, changed bool, err error) {
	stored, changed, err = s.load()
	if err != nil || !s.adoptable(stored, changed, force) {
		return nil, stored, changed, err
	}
	return s.adopt(stored), stored, changed, nil
}

// load reads the store. changed reports whether it holds something other
// than the token this Source last adopted, refreshed from, or saved: then
// another process wrote it, and it is newer than anything this Source has.
func (s *Source) load() (stored *oauth2.Token, changed bool, err error) {
	ctx, cancel := s.stepContext()
	defer cancel()
	stored, err = s.store.Load(ctx)
	if errors.Is(err, ErrNotFound) {
		stored, err = nil, nil
	}
	if err != nil {
		s.opts.log.Error("tokensource: cannot load the stored token", "error", err)
		return nil, false, fmt.Errorf("tokensource: loading the stored token: %w", err)
	}
	return stored, !sameToken(stored, s.stored), nil
}

// adoptable reports whether the stored token should replace the current one
// without a refresh: another process saved it, it is still valid, and no
// server has rejected it here. On first use the stored token is adopted
// unless the refresh is forced: then it is the token to replace.
func (s *Source) adoptable(stored *oauth2.Token, changed, force bool) bool {
	cur := s.cur.Load()
	if stored == nil || !changed || (force && cur == nil) {
		return false
	}
	if stored.AccessToken == s.rejectedToken() {
		return false
	}
	if cur != nil && cur.tok.AccessToken == stored.AccessToken {
		return false
	}
	return newCached(stored, s.now(), &s.opts).state(s.now()) != expired
}

// rejectedToken returns the access token Invalidate last dropped.
func (s *Source) rejectedToken() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

func (s *Source) adopt(stored *oauth2.Token) *oauth2.Token {
	if s.cur.Load() != nil {
		// Not the first load: another process refreshed first.
		s.stats.adopted.Add(1)
		s.opts.log.Info("tokensource: adopted a token saved by another process", "expiry", stored.Expiry)
	}
	s.stored, s.unsaved = stored, false
	s.fail = failure{}
	return stored
}

// base returns the token whose refresh token the refresh uses: the stored
// one if another process wrote it (it is newer), otherwise the current one
// (which may be newer than the stored one if its save failed).
func (s *Source) base(stored *oauth2.Token, changed bool) *oauth2.Token {
	if c := s.cur.Load(); c != nil && !changed {
		return c.tok
	}
	s.stored = stored
	return stored
}

// callRefresh calls the RefreshFunc, counts and classifies the outcome, and
// completes the new token.
func (s *Source) callRefresh(base *oauth2.Token) (*oauth2.Token, error) {
	ctx, cancel := s.stepContext()
	defer cancel()
	tok, err := s.refresh(ctx, cloneToken(base))
	switch {
	case err != nil:
	case tok == nil || tok.AccessToken == "":
		err = errors.New("tokensource: refresh returned no access token")
	case tok.AccessToken == s.rejectedToken():
		// Some servers answer a refresh with the access token they still
		// consider valid. Taking it would have every request fail and
		// refresh again; as a failure, it backs off.
		err = errors.New("tokensource: refresh returned the access token a server just rejected")
	}
	if err != nil {
		err = classify(err)
		s.stats.refreshErrors.Add(1)
		s.fail.record(err, s.now())
		s.opts.log.Warn("tokensource: refresh failed", "error", err, "failures", s.fail.n, "retry_at", s.fail.retryAt)
		return nil, err
	}
	tok = cloneToken(tok)
	if tok.RefreshToken == "" && base != nil {
		tok.RefreshToken = base.RefreshToken // RFC 6749 §6: the old one stays valid
	}
	if tok.Expiry.IsZero() && tok.ExpiresIn > 0 {
		// Capped so that an absurd expires_in cannot overflow into the past.
		secs := min(tok.ExpiresIn, int64(math.MaxInt64/time.Second))
		tok.Expiry = s.now().Add(time.Duration(secs) * time.Second)
	}
	s.stats.refreshes.Add(1)
	s.fail = failure{}
	s.opts.log.Debug("tokensource: refreshed", "expiry", tok.Expiry)
	return tok, nil
}

// save stores tok unless the store holds it already. A failure is logged and
// counted, and leaves tok marked unsaved, to be saved at the next refresh;
// the caller still uses tok.
func (s *Source) save(tok *oauth2.Token) {
	if sameToken(tok, s.stored) {
		s.unsaved = false
		return
	}
	ctx, cancel := s.stepContext()
	defer cancel()
	if err := s.store.Save(ctx, tok); err != nil {
		s.unsaved = true
		s.stats.saveErrors.Add(1)
		s.opts.log.Error("tokensource: cannot save the token; keeping it in memory", "error", err)
		return
	}
	s.stored, s.unsaved = tok, false
	s.stats.saves.Add(1)
}

// lock takes the store's cross-process lock, waiting at most RefreshTimeout.
func (s *Source) lock() (unlock func(), err error) {
	ctx, cancel := s.stepContext()
	defer cancel()
	unlock, err = s.locker.Lock(ctx)
	if err != nil {
		s.opts.log.Error("tokensource: cannot lock the store", "error", err)
		return nil, fmt.Errorf("tokensource: locking the store: %w", err)
	}
	return unlock, nil
}

// stepContext bounds one step of a flight (a load, the lock wait, the
// refresh, a save) by RefreshTimeout, independent of any caller.
func (s *Source) stepContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), s.opts.refreshTimeout)
}
