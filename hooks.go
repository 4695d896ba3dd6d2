package tokensource

import (
	"context"
	"errors"
	"net/http"
	"runtime/debug"
	"time"
)

// Hooks are functions a Source calls as it refreshes, saves and drops
// tokens, for metrics and traces (package otelsource plugs OpenTelemetry in
// here). Every field is optional: a nil one costs nothing. New fields may be
// added.
//
// Hooks are never called on the hot path (a valid cached token), never under
// the Source's mutex, and are never given a token value (expiry times and
// errors, which hold none, they are). They run synchronously, on the
// goroutine of the refresh or of the caller, so they must be quick, and safe
// for concurrent use: some run while the store's lock, which other processes
// may wait for, is held. A hook that panics is recovered, and the panic is
// logged at level Error: a broken observer must not break the refreshes it
// observes, which run on goroutines of their own, where a panic would end
// the program. A hook must not call runtime.Goexit.
//
// # The calls of one refresh
//
// A refresh (a run of the procedure that callers needing a token wait for)
// calls RefreshStart first and RefreshDone last, on its own goroutine;
// between them, StoreLoaded for each read of the store, LockAcquired once the
// store's lock is held, TokenRequest just before the RefreshFunc is called,
// LoginDone after Options.Login returned, and Saved after each attempt to
// save a token, each with the context RefreshStart returned. RefreshDone is called before the callers waiting
// for the refresh get its result, so that a caller that got it sees the
// refresh counted, and [Source.Wait] waits for it too.
//
// # Counting them reproduces Stats
//
// For every Source, whenever no refresh runs and no Invalidate is under way:
//
//	Stats.Refreshes     = RefreshDone calls with OutcomeRefreshed
//	Stats.Adopted       = RefreshDone calls with OutcomeAdopted
//	Stats.RefreshErrors = RefreshDone calls with OutcomeFailed or OutcomeReauth
//	                    + Invalidated calls with NeverWorked
//	Stats.Saves         = Saved calls with a nil Err
//	Stats.SaveErrors    = Saved calls with an Err
//	Stats.Invalidations = Invalidated calls
//	Stats.TakeOvers     = TakeOver calls
//	Stats.Logins        = LoginDone calls with a nil Err
//	Stats.LoginErrors   = LoginDone calls with an Err
//
// OutcomeLoaded, OutcomeLoggedIn and OutcomeBackoff count in no field of
// Stats; a refresh that logged in counts in Logins. Stats.Resaves counts
// background saves that succeeded: their attempts are Saved calls with no
// refresh around them.
type Hooks struct {
	// RefreshStart is called when a refresh starts, with the context it
	// runs under: the values of the caller that started it, none of its
	// cancellation (see RefreshFunc). It returns the context for the rest
	// of the refresh, ctx or one derived from it (with a trace span, say);
	// nil means ctx. The Source bounds it with [Options.RefreshTimeout].
	RefreshStart func(ctx context.Context, info RefreshStartInfo) context.Context

	// StoreLoaded is called after each Store.Load of a refresh.
	StoreLoaded func(ctx context.Context, info StoreLoadedInfo)

	// LockAcquired is called when a refresh holds the store's lock (a
	// Store that is a Locker), with the time it waited for it. A Lock that
	// fails ends the refresh instead: see RefreshDone's Err.
	LockAcquired func(ctx context.Context, wait time.Duration)

	// TokenRequest is called just before a refresh calls the RefreshFunc.
	TokenRequest func(ctx context.Context)

	// LoginDone is called when a refresh's call of [Options.Login]
	// returns, whether it got a token or not. During a login's cooldown
	// ([Options.LoginCooldown]) Login is not called, and neither is
	// LoginDone.
	LoginDone func(ctx context.Context, info LoginDoneInfo)

	// Saved is called after each attempt to save a token: a failed save
	// may be tried again, and each attempt counts in Stats.
	Saved func(ctx context.Context, info SavedInfo)

	// RefreshDone is called when a refresh has its result, just before the
	// callers waiting for it get it.
	RefreshDone func(ctx context.Context, info RefreshDoneInfo)

	// Invalidated is called when [Source.InvalidateContext] (or
	// Invalidate, with context.Background) drops the current token, after
	// the fact, with its ctx: a Transport passes the request's, grpcsource
	// the call's. A call that drops nothing calls nothing.
	Invalidated func(ctx context.Context, info InvalidatedInfo)

	// TakeOver is called when a refresh stops waiting for another
	// Source's intent on the same refresh token (see [Intent]) and sends
	// that refresh token itself: the other Source neither saved its
	// outcome nor gave it up within the lock-delay, so it is taken to have
	// died. If it had sent its request, a server that detects reuse of
	// refresh tokens may revoke the grant.
	TakeOver func(ctx context.Context, info TakeOverInfo)

	// Unauthorized is called once for each response that rejected a
	// request's token, when the client knows what it returns: by a
	// [Transport] of the Source for a 401, by grpcsource for
	// codes.Unauthenticated, and by any client through [Source.Rejected],
	// each with the request's context.
	Unauthorized func(ctx context.Context, info UnauthorizedInfo)
}

// A RefreshReason says why a refresh started.
type RefreshReason string

// The reasons for a refresh.
const (
	ReasonMissing  RefreshReason = "missing"  // no token yet: the first use, or every earlier refresh failed
	ReasonExpired  RefreshReason = "expired"  // the token expired (its early expiry passed)
	ReasonRejected RefreshReason = "rejected" // a server rejected the token ([Source.Invalidate])
	ReasonAhead    RefreshReason = "ahead"    // the token is in its refresh-ahead window: a background refresh
	ReasonForced   RefreshReason = "forced"   // [Source.Refresh]
)

// A RefreshOutcome says how a refresh ended.
type RefreshOutcome string

// The outcomes of a refresh.
const (
	// OutcomeRefreshed: the RefreshFunc returned a new token, now served.
	OutcomeRefreshed RefreshOutcome = "refreshed"
	// OutcomeAdopted: the store held a valid token that someone else
	// saved (another process, a new login), now served without a refresh.
	OutcomeAdopted RefreshOutcome = "adopted"
	// OutcomeLoaded: the first use loaded a valid token from the store.
	OutcomeLoaded RefreshOutcome = "loaded"
	// OutcomeLoggedIn: there was no grant to refresh, and [Options.Login]
	// returned a new one, now saved and served.
	OutcomeLoggedIn RefreshOutcome = "logged_in"
	// OutcomeFailed: the refresh failed (the RefreshFunc, the store's
	// Load or Lock, a panic, an expired or just rejected token): the next
	// one waits for the backoff.
	OutcomeFailed RefreshOutcome = "failed"
	// OutcomeReauth: a failure whose error wraps [ErrReauthRequired]
	// (invalid_grant, or nothing to refresh with).
	OutcomeReauth RefreshOutcome = "reauth"
	// OutcomeBackoff: the refresh stopped before calling anything, since an
	// earlier failure still holds: the refresh token the server refused is
	// still the newest one (Err wraps ErrReauthRequired), or, seldom, its
	// backoff has not passed (Err is a [*BackoffError]). A caller that needs
	// a token during a backoff gets the BackoffError without a refresh: no
	// hook is called for it, so that an outage does not fill traces with
	// refreshes that never ran.
	OutcomeBackoff RefreshOutcome = "backoff"
)

// RefreshStartInfo describes a refresh that starts.
type RefreshStartInfo struct {
	Reason RefreshReason // why it starts
}

// StoreLoadedInfo describes a Store.Load.
type StoreLoadedInfo struct {
	Found bool  // the store held a token
	Err   error // the Load's error; nil when it found nothing (ErrNotFound)
}

// SavedInfo describes an attempt to save a token.
type SavedInfo struct {
	Err error // nil if the token was saved
}

// RefreshDoneInfo describes a refresh that ended.
type RefreshDoneInfo struct {
	Reason  RefreshReason  // why it started
	Outcome RefreshOutcome // how it ended
	// Err is the error the callers get: nil unless Outcome is
	// OutcomeFailed, OutcomeReauth or OutcomeBackoff.
	Err error
	// Duration is the time from RefreshStart to the result, on the
	// monotonic clock (not [Options.Now]).
	Duration time.Duration
	// LockWait is the time spent in the store's Lock, which may have
	// failed; 0 when the store is no Locker or the lock was not needed.
	LockWait time.Duration
	// Expiry is the Expiry of the token the callers get: zero on a failure
	// or for a token that never expires.
	Expiry time.Time
}

// LoginDoneInfo describes a call of [Options.Login] that returned.
type LoginDoneInfo struct {
	// Err is its error, which the refresh's callers get, wrapped; nil when
	// it returned a token.
	Err error
	// Duration is the time it took, on the monotonic clock.
	Duration time.Duration
}

// InvalidatedInfo describes a token that [Source.Invalidate] dropped.
type InvalidatedInfo struct {
	Expiry time.Time // the dropped token's Expiry
	// NeverWorked is set when the token came from the RefreshFunc and no
	// request with it was confirmed to work (see [Source.Invalidate]): that
	// counts as a failed refresh in Stats.RefreshErrors.
	NeverWorked bool
}

// TakeOverInfo describes an intent a refresh took over.
type TakeOverInfo struct {
	Since  time.Time // when the other Source recorded it, on its clock
	Waited time.Duration
}

// UnauthorizedInfo describes what a client did with a response that
// rejected its request's token (see [Source.Rejected]).
type UnauthorizedInfo struct {
	// Retried is set when the request was sent again with a new token.
	// It is not when the rejection was returned as it is: the request
	// could not be replayed, no new token came before the request's context
	// ended, or the Source's token was the rejected one.
	Retried bool
	// StatusCode is the HTTP status of the response returned: 401 when not
	// retried, and 0 when the retry failed with an error, or for a client
	// other than HTTP.
	StatusCode int
	// Outcome sums the above up, whatever the protocol. [Source.Rejected]
	// works it out from Retried and StatusCode when it is empty.
	Outcome RejectionOutcome
}

// A RejectionOutcome says what came of a request whose token a server
// rejected.
type RejectionOutcome string

// The outcomes of a rejection.
const (
	// RejectionRecovered: sent again with a new token, and not rejected.
	RejectionRecovered RejectionOutcome = "recovered"
	// RejectionRejected: sent again with a new token, and rejected again.
	RejectionRejected RejectionOutcome = "rejected"
	// RejectionError: the retry failed with an error (no new token, or no
	// response).
	RejectionError RejectionOutcome = "error"
	// RejectionReturned: not sent again (see UnauthorizedInfo.Retried).
	RejectionReturned RejectionOutcome = "returned"
)

// guard recovers a panic of the hook named name, and logs it.
func (s *Source) guard(name string) {
	if r := recover(); r != nil {
		s.opts.log.Error("tokensource: the "+name+" hook panicked", "panic", r, "stack", string(debug.Stack()))
	}
}

// The calls of the hooks, each a no-op when its hook is nil. The context of
// a refresh's hooks is f.ctx, which RefreshStart may have replaced.

// tookOver reports an intent f took over.
func (s *Source) tookOver(f *flight, in Intent) {
	if h := s.opts.hooks; h != nil && h.TakeOver != nil {
		defer s.guard("TakeOver")
		h.TakeOver(f.ctx, TakeOverInfo{Since: in.Since, Waited: s.now().Sub(s.seen.at)})
	}
}

// refreshStart detaches f's context from its caller's cancellation, and
// lets the RefreshStart hook derive it.
func (s *Source) refreshStart(f *flight) {
	f.began = time.Now()
	f.ctx = context.WithoutCancel(f.ctx)
	if h := s.opts.hooks; h != nil && h.RefreshStart != nil {
		defer s.guard("RefreshStart")
		if ctx := h.RefreshStart(f.ctx, RefreshStartInfo{Reason: f.reason}); ctx != nil {
			f.ctx = ctx
		}
	}
}

func (s *Source) storeLoaded(f *flight, found bool, err error) {
	if h := s.opts.hooks; h != nil && h.StoreLoaded != nil {
		defer s.guard("StoreLoaded")
		h.StoreLoaded(f.ctx, StoreLoadedInfo{Found: found, Err: err})
	}
}

func (s *Source) lockAcquired(f *flight) {
	if h := s.opts.hooks; h != nil && h.LockAcquired != nil {
		defer s.guard("LockAcquired")
		h.LockAcquired(f.ctx, f.lockWait)
	}
}

func (s *Source) tokenRequest(f *flight) {
	if h := s.opts.hooks; h != nil && h.TokenRequest != nil {
		defer s.guard("TokenRequest")
		h.TokenRequest(f.ctx)
	}
}

func (s *Source) saved(f *flight, err error) {
	if h := s.opts.hooks; h != nil && h.Saved != nil {
		defer s.guard("Saved")
		h.Saved(f.ctx, SavedInfo{Err: err})
	}
}

// refreshDone reports f's result, whose outcome it works out.
func (s *Source) refreshDone(f *flight) {
	h := s.opts.hooks
	if h == nil || h.RefreshDone == nil {
		return
	}
	info := RefreshDoneInfo{Reason: f.reason, Err: f.err, Duration: time.Since(f.began), LockWait: f.lockWait}
	switch {
	case f.backedOff:
		info.Outcome = OutcomeBackoff
	case errors.Is(f.err, ErrReauthRequired):
		info.Outcome = OutcomeReauth
	case f.err != nil:
		info.Outcome = OutcomeFailed
	case f.loggedIn:
		info.Outcome = OutcomeLoggedIn
	case f.refreshed:
		info.Outcome = OutcomeRefreshed
	case f.first:
		info.Outcome = OutcomeLoaded
	default:
		info.Outcome = OutcomeAdopted
	}
	if f.err == nil {
		info.Expiry = f.tok.Expiry
	}
	defer s.guard("RefreshDone")
	h.RefreshDone(f.ctx, info)
}

// loginDone counts a call of Login that began at began and ended with
// *err, and reports it.
func (s *Source) loginDone(f *flight, began time.Time, err *error) {
	if *err != nil {
		s.stats.loginErrors.Add(1)
	} else {
		s.stats.logins.Add(1)
	}
	if h := s.opts.hooks; h != nil && h.LoginDone != nil {
		defer s.guard("LoginDone")
		h.LoginDone(f.ctx, LoginDoneInfo{Err: *err, Duration: time.Since(began)})
	}
}

func (s *Source) invalidated(ctx context.Context, expiry time.Time, neverWorked bool) {
	if h := s.opts.hooks; h != nil && h.Invalidated != nil {
		defer s.guard("Invalidated")
		h.Invalidated(ctx, InvalidatedInfo{Expiry: expiry, NeverWorked: neverWorked})
	}
}

// unauthorized reports what a Transport did with a 401 (see Rejected).
func (s *Source) unauthorized(ctx context.Context, retried bool, resp *http.Response) {
	if h := s.opts.hooks; h != nil && h.Unauthorized != nil {
		info := UnauthorizedInfo{Retried: retried}
		if resp != nil {
			info.StatusCode = resp.StatusCode
		}
		s.Rejected(ctx, info)
	}
}
