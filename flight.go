package tokensource

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
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
	tok, err := s.obtainRecovered(f.force)

	s.mu.Lock()
	if err == nil {
		s.cur.Store(newCached(tok, s.now(), &s.opts))
	} else if c := s.cur.Load(); c != nil {
		// The current token may still be valid: its next background
		// refresh waits for the backoff, and at least backoffMin, so that
		// a failing store is not read on every call.
		c.aheadAt.Store(later(s.fail.retryAt, s.now().Add(backoffMin)).UnixNano())
	}
	s.flight = nil
	s.mu.Unlock()

	f.tok, f.err = tok, err
	close(f.done)
}

// obtainRecovered is obtain, with a panic of the RefreshFunc or the Store
// turned into an error for every waiter. A flight runs in a goroutine of
// its own, where no caller could recover the panic: it would end the
// program.
func (s *Source) obtainRecovered(force bool) (tok *oauth2.Token, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("tokensource: refresh panicked: %v", r)
			s.opts.log.Error("tokensource: refresh panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	return s.obtain(force)
}

// obtain returns the token to use next: one another process saved, or a new
// one from the RefreshFunc, saved before it is returned. Loading, waiting
// for the lock and the refresh share one deadline, RefreshTimeout; each save
// has a deadline of its own, so that a slow refresh cannot cost its token.
func (s *Source) obtain(force bool) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.refreshTimeout)
	defer cancel()
	if tok, err := s.check(ctx, force); tok != nil || err != nil {
		return tok, err
	}
	if err := s.fail.gate(s.now(), s.latest, force); err != nil {
		return nil, err
	}
	if s.locker != nil {
		unlock, err := s.lock(ctx)
		if err != nil {
			return nil, err
		}
		defer unlock()
		// Another process may have refreshed while we waited for the lock.
		if tok, err := s.check(ctx, force); tok != nil || err != nil {
			return tok, err
		}
	}
	if s.latest != nil && !sameToken(s.latest, s.stored) {
		// The last save failed: save now, so that the newest refresh token
		// is in the store even if this refresh fails.
		s.save(s.latest)
	}
	return s.refreshLatest(ctx)
}

// check loads the store and returns its token if it should replace the
// current one without a refresh.
func (s *Source) check(ctx context.Context, force bool) (*oauth2.Token, error) {
	stored, changed, err := s.load(ctx)
	if err != nil || !changed || !s.adoptable(stored, force) {
		return nil, err
	}
	if s.cur.Load() != nil {
		// Not the first load: another process, or a new login, saved it.
		s.stats.adopted.Add(1)
		s.opts.log.Info("tokensource: adopted a token saved by someone else", "expiry", stored.Expiry)
	}
	s.fail = failure{}
	return stored, nil
}

// load reads the store. When it holds something other than what this
// Source last loaded or saved, someone else (another process, a new login)
// wrote it: it is newer than anything this Source has, and its refresh
// token is the one to use from now on, whether or not it is adopted. An
// emptied store (a deleted token file) leaves nothing to refresh with.
func (s *Source) load(ctx context.Context) (stored *oauth2.Token, changed bool, err error) {
	stored, err = s.store.Load(ctx)
	if errors.Is(err, ErrNotFound) {
		stored, err = nil, nil
	}
	if err != nil {
		s.opts.log.Error("tokensource: cannot load the stored token", "error", err)
		return nil, false, fmt.Errorf("tokensource: loading the stored token: %w", err)
	}
	if sameToken(stored, s.stored) {
		return stored, false, nil
	}
	s.stored, s.latest = stored, stored
	return stored, true, nil
}

// adoptable reports whether a token someone else saved should replace the
// current one without a refresh: it is still valid, and no server has
// rejected it here. On first use the stored token is adopted unless the
// refresh is forced: then it is the token to replace.
func (s *Source) adoptable(stored *oauth2.Token, force bool) bool {
	if stored == nil || (force && s.cur.Load() == nil) {
		return false
	}
	if stored.AccessToken == s.rejectedToken() {
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

// refreshLatest calls the RefreshFunc with the newest token known, and
// saves the token it returns before returning it.
func (s *Source) refreshLatest(ctx context.Context) (*oauth2.Token, error) {
	base := s.latest
	tok, err := s.refresh(ctx, cloneToken(base))
	if err == nil && (tok == nil || tok.AccessToken == "") {
		err = errors.New("tokensource: refresh returned no access token")
	}
	if err != nil {
		return nil, s.failed(classify(err), base)
	}
	tok = complete(tok, base, s.now())
	s.latest = tok
	s.save(tok)
	if tok.AccessToken == s.rejectedToken() {
		// Some servers answer a refresh with the access token they still
		// consider valid. It is of no use, but its refresh token is kept
		// (saved above), and the failure backs off instead of having every
		// request fail and refresh again.
		return nil, s.failed(errors.New("tokensource: refresh returned the access token a server just rejected"), base)
	}
	s.stats.refreshes.Add(1)
	s.fail = failure{}
	s.opts.log.Debug("tokensource: refreshed", "expiry", tok.Expiry)
	return tok, nil
}

// failed counts and logs a failed refresh from base, and notes it for the
// backoff.
func (s *Source) failed(err error, base *oauth2.Token) error {
	s.stats.refreshErrors.Add(1)
	s.fail.record(err, s.now(), base)
	s.opts.log.Warn("tokensource: refresh failed", "error", err, "failures", s.fail.n, "retry_at", s.fail.retryAt)
	return err
}

// complete returns a copy of tok, the answer to a refresh from base, with
// base's refresh token when it has none (RFC 6749 §6: the old one stays
// valid), and an Expiry from ExpiresIn when it has none.
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
	return tok
}

// save stores tok unless the store holds it already. A failure is logged
// and counted; tok stays the newest token, to be saved again at the next
// refresh, and the caller still uses it.
func (s *Source) save(tok *oauth2.Token) {
	if sameToken(tok, s.stored) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.refreshTimeout)
	defer cancel()
	if err := s.store.Save(ctx, tok); err != nil {
		s.stats.saveErrors.Add(1)
		s.opts.log.Error("tokensource: cannot save the token; keeping it in memory", "error", err)
		return
	}
	s.stored = tok
	s.stats.saves.Add(1)
}

// lock takes the store's cross-process lock, waiting no longer than ctx.
func (s *Source) lock(ctx context.Context) (unlock func(), err error) {
	unlock, err = s.locker.Lock(ctx)
	if err != nil {
		s.opts.log.Error("tokensource: cannot lock the store", "error", err)
		return nil, fmt.Errorf("tokensource: locking the store: %w", err)
	}
	return unlock, nil
}
