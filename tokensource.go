package tokensource

import (
	"cmp"
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// A RefreshFunc obtains a new token.
//
// current is a copy of the newest token known, whose refresh token is the
// one to use: read from the store under its lock when the store is a
// [Locker], and newer than the stored one when a save failed. It is nil when
// the store holds nothing (nothing was saved yet, or the token file was
// deleted, which acts as a log-out). A RefreshFunc that cannot work without
// a refresh token returns an error wrapping [ErrReauthRequired].
//
// ctx carries the values of the caller that started the refresh (its trace
// span, its logger's attributes), but none of its cancellation: it ends with
// [Options.RefreshTimeout]. A response without a refresh token keeps the old
// one; one with ExpiresIn but no Expiry gets its Expiry from the Source's
// clock. A token that has already expired, a panic and a runtime.Goexit are
// failed refreshes, like an error: the callers waiting get an error, and the
// next refresh waits for the backoff.
type RefreshFunc func(ctx context.Context, current *oauth2.Token) (*oauth2.Token, error)

// Options tune a Source. A nil *Options means all defaults.
type Options struct {
	// EarlyExpiry is how long before its Expiry a token counts as
	// expired: 0 means DefaultEarlyExpiry, and a negative value none. It is
	// capped at a quarter of the lifetime a token has when the Source gets
	// it, so that a short-lived token is used for most of its life.
	EarlyExpiry time.Duration

	// RefreshAhead is how long before the early expiry the first caller
	// starts a refresh in the background, while every caller keeps getting
	// the current token: 0 means DefaultRefreshAhead, and a negative value
	// turns it off. It never starts before half of the token's lifetime; if
	// it fails, the token is still served, and the next one starts after
	// the backoff.
	RefreshAhead time.Duration

	// RefreshTimeout bounds one refresh, whatever the contexts of its
	// callers: loading the store, waiting for its lock and the token
	// request together, and saving on its own, so that a slow refresh
	// cannot cost the token it got. 0 or less means DefaultRefreshTimeout.
	RefreshTimeout time.Duration

	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time

	// Logger gets a record of every refresh, failure and rejected token,
	// never a token value; nil means none.
	Logger *slog.Logger

	// Hooks report refreshes, saves and rejected tokens, for metrics and
	// traces; nil means none. New copies them.
	Hooks *Hooks

	// Login, when set, is called when no grant is usable (nothing stored,
	// the refresh token refused, a log-out), instead of returning
	// [ErrReauthRequired]; see [LoginFunc]. A transient failure, such as a
	// 5xx or a timeout, never calls it. nil means never.
	Login LoginFunc

	// LoginTimeout bounds one call of Login, whatever the contexts of its
	// callers. 0 or less means DefaultLoginTimeout.
	LoginTimeout time.Duration

	// LoginCooldown is how long no Source sharing the store calls Login
	// after one failed or was cancelled. The stores of this module keep it
	// in the store, where other processes see it; with another Store it is
	// kept in this Source's memory. 0 means DefaultLoginCooldown, and a
	// negative value none.
	LoginCooldown time.Duration

	// RevocationURL is the token revocation endpoint (RFC 7009) that
	// [Source.Logout] tells. "" means that Logout only logs out locally.
	RevocationURL string

	// DPoP, when not nil, makes the tokens sender-constrained (RFC 9449):
	// see [DPoPOptions]. nil means Bearer tokens.
	DPoP *DPoPOptions
}

// Defaults for the zero fields of Options.
const (
	DefaultEarlyExpiry    = 10 * time.Second
	DefaultRefreshAhead   = time.Minute
	DefaultRefreshTimeout = 30 * time.Second
	DefaultLoginTimeout   = 5 * time.Minute
	DefaultLoginCooldown  = time.Minute
)

// options are Options with the defaults filled in.
type options struct {
	earlyExpiry    time.Duration
	refreshAhead   time.Duration
	refreshTimeout time.Duration
	now            func() time.Time // nil means time.Now, called directly on the hot path
	log            *slog.Logger
	hooks          *Hooks // nil when there are none
	login          LoginFunc
	loginTimeout   time.Duration
	loginCooldown  time.Duration
	revocationURL  string
}

func (o *Options) resolve() options {
	if o == nil {
		o = &Options{}
	}
	r := options{
		earlyExpiry:    orDefault(o.EarlyExpiry, DefaultEarlyExpiry),
		refreshAhead:   orDefault(o.RefreshAhead, DefaultRefreshAhead),
		refreshTimeout: cmp.Or(max(o.RefreshTimeout, 0), DefaultRefreshTimeout),
		now:            o.Now,
		log:            o.Logger,
		login:          o.Login,
		loginTimeout:   cmp.Or(max(o.LoginTimeout, 0), DefaultLoginTimeout),
		loginCooldown:  orDefault(o.LoginCooldown, DefaultLoginCooldown),
		revocationURL:  o.RevocationURL,
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if o.Hooks != nil {
		h := *o.Hooks
		r.hooks = &h
	}
	return r
}

// orDefault maps 0 to def and a negative duration to 0 (off).
func orDefault(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// Source is a persistent, reuse-aware [oauth2.TokenSource]. It is safe for
// concurrent use; create it with [New] or [FromConfig].
//
// A Source serves its cached token while it is valid, without locks,
// allocations or I/O. When the token expires, when a server rejects it
// (Invalidate), or when Refresh is called, it runs one refresh at a time:
// callers that need a token meanwhile wait for that refresh and all get its
// result, the new token or its error. A failed refresh backs off (see
// [BackoffError]).
//
// A cached token is fresh, stale or expired, judged on the wall clock, which
// runs on while a machine sleeps. A fresh token is served. A stale one,
// inside the [Options.RefreshAhead] window, is served too, and the first
// caller to see it starts a refresh in the background. An expired one, past
// its Expiry less [Options.EarlyExpiry] or rejected, makes callers wait for
// a refresh.
//
// Every new token is saved to the store before anyone gets it; if the save
// fails, the token is used all the same and saved again before its refresh
// token is used. With a store that is a [Locker], a Source takes the lock,
// reloads the store, and adopts a valid token another process saved instead
// of refreshing; otherwise it refreshes with the refresh token it read under
// the lock.
type Source struct {
	refresh RefreshFunc
	store   Store
	grant   grantStore // the store, as records
	locker  Locker     // store as a Locker, or nil
	leaser  Leaser     // store as a Leaser, or nil
	owner   string     // identifies this Source in the intents it records
	opts    options

	cur atomic.Pointer[cached] // the token served on the hot path

	// For a Pool holding the Source: its epoch, and the last epoch in
	// which the Source served a token (see Pool).
	poolEpoch atomic.Pointer[atomic.Int64]
	usedEpoch atomic.Int64

	// mu guards what follows, and is never held while calling out: no
	// logger, store, locker, RefreshFunc or clock runs under it.
	mu       sync.Mutex
	flight   *flight         // the running refresh, or nil
	last     *flight         // the latest refresh, which may still be waking its callers
	rejected string          // access token of the last token Invalidate dropped; never adopted again
	retired  bool            // a Pool deleted the Source: it serves no token again
	fail     failure         // the last failure, for backoff
	released <-chan struct{} // closed when the last lease's release is done; nil if none to wait for

	// turn is held by whoever reads or writes the store for the Source:
	// the running flight, or a save retried in the background (resave.go).
	turn chan struct{}

	// Owned by the holder of turn.
	loaded    bool          // the store was loaded once
	rec       *Record       // what the store held when last read or written; nil when nothing
	stored    *oauth2.Token // rec's token, on the wall clock
	latest    *oauth2.Token // the newest token known: its refresh token is the one to use; newer than stored when a save failed
	seen      intentSeen    // another Source's intent this one waits for
	resave    resaveState   // the background save of latest
	lastLogin loginState    // the last failed login, for the cooldown

	// logouts counts Logout calls; a flight that last held the turn
	// before the latest one serves no token (see publish).
	logouts atomic.Int64

	// dpop is the Source's DPoP key and nonces; nil without Options.DPoP.
	dpop *dpopState

	// How Logout reaches the revocation endpoint: set by FromConfig.
	client *http.Client
	auth   clientAuth

	stats counters
}

// New returns a Source that obtains tokens with refresh and keeps them in
// store. refresh must not be nil. A nil store means a new MemoryStore that
// only the Source can reach: no login can be saved into it, so once
// refreshing fails with [ErrReauthRequired] it fails for good. Pass a store of
// your own if a user may have to log in again.
//
// New does no I/O: the first call that needs a token loads it from the store,
// and refreshes it if it is missing or expired.
func New(refresh RefreshFunc, store Store, opts *Options) *Source {
	if refresh == nil {
		panic("tokensource: New with a nil RefreshFunc")
	}
	if store == nil {
		store = NewMemoryStore()
	}
	s := &Source{refresh: refresh, store: store, grant: newGrantStore(store), opts: opts.resolve(),
		owner: newOwner(), turn: make(chan struct{}, 1)}
	s.locker, _ = store.(Locker)
	s.leaser, _ = store.(Leaser)
	if opts != nil && opts.DPoP != nil {
		s.dpop = newDPoPState(opts.DPoP)
	}
	return s
}

// Token returns a valid token. It is TokenContext with context.Background,
// so that a Source is an [oauth2.TokenSource], except that it returns a copy
// of the token, which the caller may modify: [oauth2.ReuseTokenSource], which
// [oauth2.NewClient] puts in front of every source, writes into the tokens it
// gets. The copy costs one allocation; TokenContext makes none.
func (s *Source) Token() (*oauth2.Token, error) {
	tok, err := s.TokenContext(context.Background())
	return cloneToken(tok), err
}

// TokenContext returns a valid token, refreshing it first when it is
// missing or expired. A caller whose ctx ends stops waiting with ctx.Err();
// the refresh goes on for the others.
//
// Inside the refresh-ahead window it returns the current, still valid token
// and starts one refresh in the background; if that fails, the next one
// starts after the backoff, while the token stays valid. During the backoff
// after a failed refresh, a caller without a valid token gets the last
// error at once (see [BackoffError]). The returned token is shared: callers
// must not modify it.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) {
	now := s.now()
	wall := wallNanos(now)
	if c := s.cur.Load(); c != nil {
		switch c.state(wall) {
		case fresh:
			s.markUsed()
			return c.tok, nil
		case stale:
			s.markUsed()
			s.refreshAhead(ctx, c, wall)
			return c.tok, nil
		}
	}
	s.mu.Lock()
	if s.retired {
		s.mu.Unlock()
		return nil, errRetired
	}
	c := s.cur.Load()
	if c != nil && c.state(wall) != expired {
		// A refresh ended between the check above and the lock.
		s.mu.Unlock()
		s.markUsed()
		return c.tok, nil
	}
	f, err := s.startUnlessBackingOff(ctx, whyExpired(c), now)
	s.mu.Unlock()
	if f == nil {
		return nil, err
	}
	return f.wait(ctx)
}

// markUsed notes, for a Pool holding s, that s served a token in the
// Pool's current epoch. It only reads shared memory once s is marked.
func (s *Source) markUsed() {
	if ep := s.poolEpoch.Load(); ep != nil {
		if e := ep.Load(); s.usedEpoch.Load() < e {
			s.usedEpoch.Store(e)
		}
	}
}

// whyExpired returns the reason to refresh c, an expired token or nil.
func whyExpired(c *cached) RefreshReason {
	switch {
	case c == nil:
		return ReasonMissing
	case c.dead && c.tok.AccessToken != "":
		return ReasonRejected
	}
	return ReasonExpired
}

// Refresh obtains a new token now, even if the current one is valid, and
// skips the backoff of earlier failures. It is coalesced: when a refresh is
// already running, Refresh waits for it and returns its token if it
// succeeded with a new token (not the stored one, loaded on first use). It
// does not retry a refresh token the server refused ([ErrReauthRequired])
// until the store holds a different one.
func (s *Source) Refresh(ctx context.Context) (*oauth2.Token, error) {
	for {
		s.mu.Lock()
		f := s.start(ctx, ReasonForced)
		s.mu.Unlock()
		// A flight that was not forced may have stopped at the backoff, or
		// served the stored token on first use: only a new token counts,
		// and otherwise the next flight is forced.
		tok, err := f.wait(ctx)
		if f.force || ctx.Err() != nil || (err == nil && !f.first) {
			return tok, err
		}
	}
}

// Wait waits until no refresh is running, and the store's lock it last
// held is given back, or ctx ends, and returns ctx.Err() in that case. A
// lease kept while a failed save is retried in the background is given
// back at once. A
// refresh runs detached from its callers (in the background, inside the
// refresh-ahead window) and saves the token it gets before it ends. A
// program that exits while one runs may lose a refresh token the server
// has already rotated, or leave the store's lease to expire while others
// wait for it: call Wait before exiting, as in defer src.Wait(ctx). Wait
// does not stop new refreshes from starting.
func (s *Source) Wait(ctx context.Context) error {
	if err := s.waitFlights(ctx); err != nil {
		return err
	}
	// A lease kept for a save still owed is given back: the program is
	// leaving, and others should not wait for its TTL. A free turn is
	// taken even when ctx has ended.
	select {
	case s.turn <- struct{}{}:
	default:
		if err := s.takeTurn(ctx); err != nil {
			return err
		}
	}
	s.giveBackLease()
	s.endTurn()
	s.mu.Lock()
	released := s.released
	s.mu.Unlock()
	if released == nil {
		return nil
	}
	select {
	case <-released:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitFlights waits until no refresh is running, or ctx ends.
func (s *Source) waitFlights(ctx context.Context) error {
	for {
		// The latest flight, rather than the running one: a flight stops
		// running before its RefreshDone hook and its callers get its result.
		s.mu.Lock()
		f := s.last
		s.mu.Unlock()
		if f == nil {
			return nil
		}
		if !f.ended() {
			select {
			case <-f.done:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		s.mu.Lock()
		again := s.last != f
		s.mu.Unlock()
		if !again {
			return nil
		}
	}
}

// refreshAhead starts a background refresh of the stale token c, with the
// values of ctx, unless one runs, or the last one failed and its backoff
// has not passed.
func (s *Source) refreshAhead(ctx context.Context, c *cached, now int64) {
	if !c.claimAhead(now) {
		return
	}
	s.mu.Lock()
	if s.cur.Load() == c {
		s.start(ctx, ReasonAhead)
	}
	s.mu.Unlock()
}

// now reads the clock, on which tokens are judged by the wall clock alone:
// the monotonic reading, which stops while the machine sleeps, is stripped.
func (s *Source) now() time.Time {
	if s.opts.now != nil {
		return s.opts.now().Round(0)
	}
	return time.Now().Round(0)
}
