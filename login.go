package tokensource

import (
	"context"
	"errors"
	"time"

	"golang.org/x/oauth2"
)

// A LoginFunc obtains a brand-new grant from the user, interactively: it
// opens a browser, or shows a code to enter on another device, and returns
// the token the authorization server issued, with its refresh token. Package
// login has the two usual ones: login.Browser and login.Device.
//
// A Source calls it only when no grant is usable: nothing is stored, the
// server refused the refresh token (invalid_grant), or the user logged out.
// It runs under the store's lock, after a reload, so that however many
// Sources and processes share the store, one of them logs in and the others
// adopt the token it saved: one browser tab, not one per process.
//
// ctx carries the values of the caller that needed the token, none of its
// cancellation, and a timeout of its own: a login takes minutes of a human's
// time and must outlive a request's deadline, yet must not hold the store's
// lock forever. A LoginFunc returns when ctx ends, whether or not the user
// ever came back.
//
// An error, or a cancelled ctx, counts as a failed login: every caller
// waiting for it gets an error that wraps both [ErrReauthRequired] and the
// login's error, and no Source sharing the store calls Login again until a
// cooldown has passed, so that a user who closed the tab is not sent a new
// one every second.
type LoginFunc func(ctx context.Context) (*oauth2.Token, error)

// stepLogin is the step that calls Options.Login.
const stepLogin = "logging in"

// errStoreChanged ends a login that found, under the lock, a grant someone
// else saved: the flight refreshes with it, or adopts it, instead.
var errStoreChanged = errors.New("the store holds another grant")

// loginState is the last failed login of this Source: the cooldown kept in
// memory, for a store that keeps no records, and the error to report
// during it. The holder of the turn owns it.
type loginState struct {
	retryAt time.Time
	err     error
}

// loginError is a failed login, or the cooldown after one: it wraps
// ErrReauthRequired and the login's error.
type loginError struct {
	err     error     // the login's error; nil for a cooldown set elsewhere
	retryAt time.Time // the end of the cooldown; zero for none
}

func (e *loginError) Error() string {
	what := "re-authentication required: "
	switch {
	case e.err == nil:
		return "tokensource: " + what + "a login failed in another process; next login at " + e.retryAt.UTC().Format(time.RFC3339)
	case e.retryAt.IsZero():
		what += "the login failed"
	default:
		what += "the login failed; next login at " + e.retryAt.UTC().Format(time.RFC3339)
	}
	// The login's error names the package, as a step's error does.
	return prefixed(what, e.err) + ": " + e.err.Error()
}

func (e *loginError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrReauthRequired}
	}
	return []error{ErrReauthRequired, e.err}
}

// wantsLogin reports whether a flight that ended with err should log in:
// Login is set, and the grant is dead, not merely out of reach.
func (s *Source) wantsLogin(err error) bool {
	return s.opts.login != nil && errors.Is(err, ErrReauthRequired) && !errors.Is(err, errRetired)
}

// login obtains a new grant with Login for f, whose refresh found none
// usable. Under the turn and the store's lock, it reloads the store first:
// a grant another Source saved meanwhile ends it with errStoreChanged, and
// a cooldown with its error. The token is saved before it is returned.
func (s *Source) login(f *flight) (*oauth2.Token, error) {
	// Waiting for the turn and the lock is waiting for another Source's
	// login, perhaps: as long as one.
	ctx, cancel := context.WithTimeout(f.ctx, s.opts.refreshTimeout+s.opts.loginTimeout)
	defer cancel()
	if err := s.takeTurn(ctx); err != nil {
		return nil, s.failed(f, stepError(stepLock, err), nil, s.now())
	}
	defer s.endTurn()
	f.logouts = s.logouts.Load()
	// This Source's own cooldown, before it waits for the store's lock.
	if err := s.coolingDown(nil, s.now()); err != nil {
		return nil, s.failed(f, err, s.latest, s.now())
	}
	if s.locker != nil {
		lease, err := s.lock(ctx, f)
		if err != nil {
			return nil, err
		}
		defer s.unlock(f, lease)
	}
	rec, err := s.reload(f)
	if err == nil {
		err = s.takeDPoPKey(rec)
	}
	if err != nil {
		return nil, s.failed(f, stepError(stepLoad, err), s.latest, s.now())
	}
	if tok := onWallClock(recordToken(rec)); tok != nil && !sameToken(tok, s.stored) {
		return nil, errStoreChanged
	}
	s.rec = rec
	if err := s.coolingDown(rec, s.now()); err != nil {
		return nil, s.failed(f, err, s.latest, s.now())
	}
	tok, err := s.callLogin(f)
	if err != nil {
		return nil, s.failed(f, s.coolDown(f, err), s.latest, s.now())
	}
	s.lastLogin = loginState{}
	f.loggedIn = true
	s.opts.log.InfoContext(f.ctx, "tokensource: logged in", "expiry", tok.Expiry)
	f.loggedOut = false // the login replaces the tombstone
	if err := s.saveLogin(f, tok); err != nil {
		return nil, s.failed(f, err, nil, s.now())
	}
	return tok, nil
}

// reload reads the store, with a RefreshTimeout of its own.
func (s *Source) reload(f *flight) (rec *Record, err error) {
	ctx, cancel := context.WithTimeout(f.ctx, s.opts.refreshTimeout)
	defer cancel()
	err = f.call(stepLoad, func() (err error) {
		rec, err = s.grant.get(ctx)
		return err
	})
	return rec, err
}

// callLogin calls Login, with the values of f.ctx and LoginTimeout, and
// completes the token it returns. It counts the call, and reports it to the
// LoginDone hook.
func (s *Source) callLogin(f *flight) (tok *oauth2.Token, err error) {
	ctx, cancel := context.WithTimeout(f.ctx, s.opts.loginTimeout)
	defer cancel()
	defer s.loginDone(f, time.Now(), &err)
	// A flight that stopped at the backoff of a refused refresh token has
	// its result from this call now: it counts, unlike a backoff.
	f.backedOff = false
	err = f.call(stepLogin, func() (err error) {
		tok, err = s.opts.login(s.withDPoP(ctx, s.client))
		return err
	})
	switch {
	case err != nil:
	case tok == nil || tok.AccessToken == "":
		err = errors.New("got no access token")
	case ctx.Err() != nil:
		err = context.Cause(ctx) // a token after the deadline is a failure too
	}
	if err != nil {
		return nil, err
	}
	return complete(tok, nil, s.now()), nil
}

// coolingDown returns the error of the cooldown after a failed login, if
// one holds at now: this Source's, or one recorded in rec by any Source.
func (s *Source) coolingDown(rec *Record, now time.Time) error {
	if now.Before(s.lastLogin.retryAt) {
		return &loginError{err: s.lastLogin.err, retryAt: s.lastLogin.retryAt}
	}
	if rec != nil && now.Before(rec.LoginRetryAt) {
		return &loginError{retryAt: rec.LoginRetryAt}
	}
	return nil
}

// coolDown notes the failed login err, and returns the error every caller
// waiting for it gets. The cooldown goes into the record, beside what it
// holds, for the Sources of other processes; a failure to write it is only
// logged, as this Source keeps it in memory anyway.
func (s *Source) coolDown(f *flight, err error) error {
	err = stepError(stepLogin, err)
	if s.opts.loginCooldown <= 0 {
		return &loginError{err: err}
	}
	retryAt := s.now().Add(s.opts.loginCooldown)
	s.lastLogin = loginState{retryAt: retryAt, err: err}
	s.opts.log.WarnContext(f.ctx, "tokensource: login failed", "error", err, "retry_at", retryAt)
	if s.grant.shared() {
		next := &Record{Token: recordToken(s.rec), LoggedOut: s.rec != nil && s.rec.LoggedOut, LoginRetryAt: retryAt, DPoPKey: s.dpop.stored()}
		ctx, cancel := context.WithTimeout(f.ctx, s.opts.refreshTimeout)
		defer cancel()
		if perr := s.grant.put(ctx, s.rec, next); perr != nil {
			s.opts.log.WarnContext(f.ctx, "tokensource: cannot record the login's cooldown in the store", "error", perr)
		} else {
			s.rec = next
		}
	}
	return &loginError{err: err, retryAt: retryAt}
}

// saveLogin saves tok, a new grant, over what the store held when the
// login began: a dead grant, a tombstone, or nothing. A grant someone else
// saved meanwhile is written over, as the login is newer; a log-out
// meanwhile stands, and tok is dropped. A save that fails otherwise is
// retried in the background, as after a refresh; tok is served meanwhile.
func (s *Source) saveLogin(f *flight, tok *oauth2.Token) error {
	s.latest = tok
	for range 3 {
		superseded, err := s.save(f, tok)
		switch {
		case f.loggedOut:
			return err
		case superseded != nil:
			s.latest = tok // and again, over the other grant
		case err != nil:
			s.scheduleResave()
			return nil
		default:
			return nil
		}
	}
	s.scheduleResave()
	return nil
}
