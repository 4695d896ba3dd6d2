package tokensource

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// Before a Source sends a refresh token, it records its intent in the
// store: which refresh token, since when, by whom. A Source that finds
// another's intent on the refresh token it would send waits for the record
// to change (the other saves its new token, or gives the intent up)
// instead of sending a refresh token that may already be spent; only when
// the other has clearly died does it take over. The wait is the lock-delay
// of Consul's locks: lockDelay.

// stepIntent is the step that records the intent.
const stepIntent = "recording the refresh in the store"

// Polling a record that holds another Source's intent: the wait doubles
// from intentPollMin up to intentPollMax.
const (
	intentPollMin = 20 * time.Millisecond
	intentPollMax = 500 * time.Millisecond
)

var (
	errLoggedOut  = &reauthError{ErrLoggedOut}
	errLeaseLost  = errors.New("the store's lease was lost before the token request")
	errSuperseded = errors.New("someone else saved a token that could not be used")
)

// intentSeen is another Source's intent, and when this Source first saw it
// on its own clock: a writer's clock may be off.
type intentSeen struct {
	intent Intent
	at     time.Time
}

// lockDelay is how long a Source waits for another's intent before it
// takes over: the other's token request (RefreshTimeout), the grace for
// reading its response (requestGrace), and its saves (a RefreshTimeout,
// and saveRetryFor of retries).
func (s *Source) lockDelay() time.Duration {
	return 2*s.opts.refreshTimeout + s.requestGrace() + saveRetryFor
}

// requestGrace is how long a token request already sent may go on past
// RefreshTimeout, so that a response the server sent while this process
// was paused (a GC, a VM migration, SIGSTOP) is still read and saved: it
// holds the rotated refresh token.
func (s *Source) requestGrace() time.Duration { return s.opts.refreshTimeout }

// claim records this Source's intent to refresh with s.latest, after
// waiting out another Source's unresolved intent on the same refresh token
// (awaitIntent). It returns a token instead when the store gets one worth
// adopting meanwhile, or an error that ends the flight.
func (s *Source) claim(f *flight, lease Lease) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(f.ctx, s.opts.refreshTimeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		fp := Fingerprint(s.latest.RefreshToken)
		if in := s.rec.intentOn(fp); in != nil && in.Owner != s.owner {
			tok, again, err := s.awaitIntent(f, *in, lease)
			if tok != nil || err != nil {
				return tok, err
			}
			if again {
				continue
			}
		}
		next := &Record{Token: s.latest, Intent: &Intent{Refresh: fp, Since: s.now(), Owner: s.owner}, DPoPKey: s.dpop.stored()}
		err := f.call(stepIntent, func() error { return s.grant.put(ctx, s.rec, next) })
		if err == nil {
			s.rec, s.stored = next, s.latest
			return nil, nil
		}
		if !errors.Is(err, ErrConflict) || attempt >= 2 {
			return nil, s.failed(f, stepError(stepIntent, err), s.latest, s.now())
		}
		if tok, err := s.adoptStored(ctx, f, s.now()); tok != nil || err != nil {
			return tok, err
		}
	}
}

// intentOn returns r's intent if it is on the refresh token whose
// fingerprint is fp.
func (r *Record) intentOn(fp string) *Intent {
	if r == nil || r.Intent == nil || r.Intent.Refresh != fp {
		return nil
	}
	return r.Intent
}

// awaitIntent waits for the record holding in, another Source's intent,
// to change, polling it, no longer than lockDelay from when this Source
// first saw in. It returns a token to adopt, or again when the record
// changed in another way (claim looks at it anew), or neither when the
// delay passed: the other Source died, and this one takes over.
func (s *Source) awaitIntent(f *flight, in Intent, lease Lease) (tok *oauth2.Token, again bool, err error) {
	now := s.now()
	if s.seen.intent != in {
		s.seen = intentSeen{intent: in, at: now}
	}
	delay := s.lockDelay()
	until := s.seen.at.Add(delay)
	if now.Sub(in.Since) > 2*delay {
		// Recorded long ago by the writer's clock as well: a Source that
		// died before this one started.
		until = now
	}
	// Real time bounds the wait too, whatever the Source's clock does.
	ctx, cancel := context.WithTimeout(f.ctx, delay)
	defer cancel()
	for wait := intentPollMin; s.now().Before(until); wait = min(2*wait, intentPollMax) {
		if sleepCtx(ctx, min(wait, until.Sub(s.now()))); ctx.Err() != nil {
			break
		}
		if lease != nil && isClosed(lease.Lost()) {
			return nil, false, s.failed(f, stepError(stepIntent, errLeaseLost), s.latest, s.now())
		}
		loadCtx, cancelLoad := context.WithTimeout(f.ctx, s.opts.refreshTimeout)
		tok, err := s.adoptStored(loadCtx, f, s.now())
		cancelLoad()
		if tok != nil || err != nil {
			return tok, false, err
		}
		if s.rec.intentOn(Fingerprint(refreshToken(s.latest))) == nil || *s.rec.Intent != in {
			return nil, true, nil
		}
	}
	s.stats.takeovers.Add(1)
	s.opts.log.WarnContext(f.ctx, "tokensource: taking over a refresh another Source did not finish",
		"since", in.Since, "waited", s.now().Sub(s.seen.at))
	s.tookOver(f, in)
	return nil, false, nil
}

// ownIntent reports whether the record last read or written holds this
// Source's intent.
func (s *Source) ownIntent() bool {
	return s.rec != nil && s.rec.Intent != nil && s.rec.Intent.Owner == s.owner
}

// dropIntent gives up this Source's intent after a token request that
// failed with a response from the server (a refusal, an error status):
// the refresh token was not spent, and others need not wait for it. After a
// failure without a response (a timeout, a reset connection) the request
// may have reached the server, and the intent stays.
func (s *Source) dropIntent(f *flight, err error) {
	var re *oauth2.RetrieveError
	if !s.ownIntent() || !errors.As(err, &re) || re.Response == nil {
		return
	}
	ctx, cancel := context.WithTimeout(f.ctx, s.opts.refreshTimeout)
	defer cancel()
	next := &Record{Token: s.stored, DPoPKey: s.dpop.stored()}
	if s.grant.put(ctx, s.rec, next) == nil {
		s.rec = next
	}
}

// requestContext returns the context of a token request: it ends at
// deadline, or, if the request was written to the network by then,
// requestGrace later (see requestGrace), with context.DeadlineExceeded
// either way; and when parent ends. Its Deadline reports deadline.
func (s *Source) requestContext(parent context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	c := &requestCtx{parent: parent, deadline: deadline, done: make(chan struct{})}
	stopParent := context.AfterFunc(parent, func() { c.end(parent.Err()) })
	var mu sync.Mutex
	var grace *time.Timer
	timeout := time.AfterFunc(time.Until(deadline), func() {
		if !c.sent.Load() {
			c.end(context.DeadlineExceeded)
			return
		}
		mu.Lock()
		grace = time.AfterFunc(s.requestGrace(), func() { c.end(context.DeadlineExceeded) })
		mu.Unlock()
	})
	stop := func() {
		stopParent()
		timeout.Stop()
		mu.Lock()
		if grace != nil {
			grace.Stop()
		}
		mu.Unlock()
		c.end(context.Canceled)
	}
	ctx := httptrace.WithClientTrace(c, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { c.sent.Store(true) },
	})
	return ctx, stop
}

// requestCtx is the context requestContext returns, before the trace that
// tells it the request was sent.
type requestCtx struct {
	parent   context.Context
	deadline time.Time
	sent     atomic.Bool
	done     chan struct{}
	once     sync.Once
	err      atomic.Pointer[error]
}

func (c *requestCtx) end(err error) {
	c.once.Do(func() {
		c.err.Store(&err)
		close(c.done)
	})
}

func (c *requestCtx) Deadline() (time.Time, bool) { return c.deadline, true }
func (c *requestCtx) Done() <-chan struct{}       { return c.done }
func (c *requestCtx) Value(key any) any           { return c.parent.Value(key) }
func (c *requestCtx) Err() error {
	if err := c.err.Load(); err != nil {
		return *err
	}
	return nil
}

// isClosed reports whether ch is closed; a nil ch never is.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// newOwner returns a random identity for a Source's intents.
func newOwner() string {
	var b [8]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
}
