package tokensource

import (
	"sync"
	"sync/atomic"
	"time"
)

// PoolOptions tune a Pool. A nil *PoolOptions means all defaults.
type PoolOptions struct {
	// IdleTimeout is how long a Source may go unused, neither got from
	// the Pool nor serving a token, before the Pool drops it. 0 or less
	// means never: Sources stay until Delete.
	IdleTimeout time.Duration
	// Now is the clock, for tests; nil means time.Now. Only a Get that
	// creates a Source reads it.
	Now func() time.Time
}

// Pool keeps one Source per key, for a program that serves many accounts.
// It is safe for concurrent use; create it with NewPool.
//
// A Get of a key the Pool holds takes no lock and allocates nothing, and
// Gets in parallel only read shared memory.
//
// Idle Sources are dropped lazily, so a Pool runs no goroutine and needs no
// Close: a Get that creates a Source first sweeps the Pool, at most once
// every IdleTimeout/4. A Source is dropped no sooner than IdleTimeout after
// its last use, a Get or a token it served (an http.Client kept for a
// while, built on the Source, uses it), never while a refresh runs (a new
// Source of its key would start a second one), and, in a Pool that creates
// a Source at least every IdleTimeout/4, within 2 × IdleTimeout. A Pool
// that creates none keeps its Sources, as it does not grow either.
//
// Callers that hold a dropped Source may keep using it; the next Get of its
// key creates a new one, which starts from the store. Build each Source on
// its key's persistent store: two Sources of one key then coordinate
// through it, as two processes do.
type Pool struct {
	newSource func(key string) *Source
	idle      time.Duration
	now       func() time.Time

	sources sync.Map     // key → *poolEntry; never holds a dropped entry once mu is released
	epoch   atomic.Int64 // advanced by each sweep; a Get marks its entry with it

	mu        sync.Mutex
	creating  map[string]*creation // Gets calling newSource, by key
	nextSweep time.Time
}

// A poolEntry is a Source in the Pool.
type poolEntry struct {
	src  *Source
	used atomic.Int64 // the epoch of the last Get, or dropped
	seen int64        // Unix ns of the last sweep that found it used, or of its creation; guarded by Pool.mu
}

// dropped is the used epoch of an entry the Pool no longer holds.
const dropped = -1

// A creation is a call of newSource, which Gets of the same key wait for.
type creation struct {
	done    chan struct{} // closed when src is set
	src     *Source       // nil if newSource panicked
	deleted bool          // Delete ran meanwhile: do not keep src; guarded by Pool.mu
}

// NewPool returns an empty Pool whose Get calls newSource(key) to create the
// Source of a key it does not hold. newSource must not be nil, nor return
// nil. It is called once per key at a time, outside any lock of the Pool:
// Gets of the same key wait for it (so it must not Get its own key), Gets
// of other keys do not. If it panics, the panic goes to the Get that called
// it, and the Gets waiting call it again.
func NewPool(newSource func(key string) *Source, opts *PoolOptions) *Pool {
	if newSource == nil {
		panic("tokensource: NewPool with a nil newSource")
	}
	if opts == nil {
		opts = &PoolOptions{}
	}
	p := &Pool{newSource: newSource, idle: opts.IdleTimeout, now: opts.Now, creating: map[string]*creation{}}
	if p.now == nil {
		p.now = time.Now
	}
	return p
}

// Get returns key's Source, creating it with newSource if the Pool does not
// hold one (it never did, it was dropped for being idle, or deleted).
// Concurrent Gets of a new key create one Source, and all return it.
func (p *Pool) Get(key string) *Source {
	if v, ok := p.sources.Load(key); ok {
		// Marked in this epoch already: only read, so that parallel Gets
		// share the cache line.
		if e := v.(*poolEntry); e.used.Load() >= p.epoch.Load() || p.mark(e) {
			return e.src
		}
	}
	return p.create(key)
}

// Delete drops key's Source from the Pool, if it holds one, even if a
// refresh is running; a Source being created for key is not kept either.
// The next Get creates a new Source. The old one serves no token again:
// callers that hold it get an error wrapping [ErrReauthRequired], and a
// refresh it was running ends with that error too, having saved its token.
// To log an account out, delete its token from the store (a tombstone, which
// every replica's Sources see), then call Delete.
func (p *Pool) Delete(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v, ok := p.sources.LoadAndDelete(key); ok {
		v.(*poolEntry).src.retire()
	}
	if c := p.creating[key]; c != nil {
		c.deleted = true
	}
}

// retire stops s from serving tokens, for good: every call that needs a
// token gets an error wrapping ErrReauthRequired.
func (s *Source) retire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retired = true
	s.cur.Store(nil)
}

// mark marks e as asked for in the current epoch, and reports false if e
// was dropped.
func (p *Pool) mark(e *poolEntry) bool {
	for {
		ep, u := p.epoch.Load(), e.used.Load()
		switch {
		case u == dropped:
			return false
		case u >= ep:
			return true
		}
		testHookPoolMarking()
		// Loop to check the epoch again: a sweep that began meanwhile may
		// have looked at e before this write.
		e.used.CompareAndSwap(u, ep)
	}
}

// testHookPoolMarking is called before a Get marks an entry; tests replace
// it to run a sweep at that moment.
var testHookPoolMarking = func() {}

// create returns key's Source, calling newSource unless another Get is
// already calling it for key, and then waiting for that one.
func (p *Pool) create(key string) *Source {
	p.mu.Lock()
	// A Get may have created it since the caller looked.
	if v, ok := p.sources.Load(key); ok {
		e := v.(*poolEntry)
		p.mark(e)
		p.mu.Unlock()
		return e.src
	}
	if c := p.creating[key]; c != nil {
		p.mu.Unlock()
		testHookPoolWaiting()
		<-c.done
		if c.src == nil {
			return p.create(key) // newSource panicked: try again
		}
		return c.src
	}
	c := &creation{done: make(chan struct{})}
	p.creating[key] = c
	p.mu.Unlock()

	defer p.created(key, c)
	c.src = p.newSource(key)
	if c.src == nil {
		panic("tokensource: a Pool's newSource returned nil")
	}
	return c.src
}

// testHookPoolWaiting is called when a Get starts waiting for another
// Get's newSource; tests replace it to know that every Get is waiting.
var testHookPoolWaiting = func() {}

// created ends the creation c of key's Source: it sweeps the Pool, keeps
// the new Source, and wakes the Gets waiting for it. It also runs when
// newSource panicked, or returned nil; then there is nothing to keep.
func (p *Pool) created(key string, c *creation) {
	p.mu.Lock()
	delete(p.creating, key)
	if c.src != nil && c.deleted {
		c.src.retire()
	}
	if c.src != nil && !c.deleted {
		now := p.now()
		p.sweep(now)
		e := &poolEntry{src: c.src, seen: now.UnixNano()}
		e.used.Store(p.epoch.Load())
		c.src.poolEpoch.Store(&p.epoch)
		p.sources.Store(key, e)
	}
	p.mu.Unlock()
	close(c.done)
}

// sweep drops the Sources idle for IdleTimeout, if the last sweep was at
// least IdleTimeout/4 ago. p.mu must be held.
//
// It ends the current epoch. An entry marked with it was asked for since
// the last sweep: it is seen now. An entry marked earlier was last asked for
// before its seen time, and is dropped once that is IdleTimeout old.
func (p *Pool) sweep(now time.Time) {
	if p.idle <= 0 || now.Before(p.nextSweep) {
		return
	}
	p.nextSweep = now.Add(p.idle / 4)
	ep := p.epoch.Add(1) - 1
	t, cutoff := now.UnixNano(), now.Add(-p.idle).UnixNano()
	p.sources.Range(func(key, v any) bool {
		e := v.(*poolEntry)
		u := e.used.Load()
		switch {
		case u >= ep || e.src.usedEpoch.Load() >= ep:
			e.seen = t
		case e.seen <= cutoff && !e.src.refreshing() && e.used.CompareAndSwap(u, dropped):
			// A Get that marks e from now on finds it dropped, and creates
			// a new Source; the CompareAndSwap fails if one marked it first.
			p.sources.Delete(key)
		}
		return true
	})
}

// refreshing reports whether s has a refresh running.
func (s *Source) refreshing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flight != nil
}
