package tokensource

import (
	"context"
	"math/rand/v2"
	"time"
)

// A token whose save failed is kept in memory and served, and its save is
// retried in the background, not only before the next refresh: a Source
// busy serving a valid token would otherwise leave the store holding a
// refresh token it has spent, for whoever refreshes next. The retry is a
// compare-and-swap like every write, so it never overwrites a newer record.
const (
	resaveMin      = 100 * time.Millisecond
	resaveMax      = 10 * time.Second
	resaveAttempts = 40 // about five minutes at resaveMax

	// resaveKeptMax caps the wait while a lease is kept for the save.
	resaveKeptMax = time.Second
)

// resaveState is the background save of s.latest; its holder of the
// Source's turn owns it.
type resaveState struct {
	timer     *time.Timer // the next attempt, or nil
	attempts  int         // attempts that failed in a row
	lease     Lease       // the store's lease, kept while the save is owed (see keepLease), or nil
	keptSince time.Time   // when a lease was first kept for the save owed; zero if none
}

// scheduleResave arranges for the next background save of s.latest,
// unless one is due already or the attempts ran out. The caller holds the
// turn.
func (s *Source) scheduleResave() {
	r := &s.resave
	if r.timer != nil || r.attempts >= resaveAttempts {
		return
	}
	wait := min(resaveMin<<min(r.attempts, 16), resaveMax)
	if r.lease != nil {
		wait = min(wait, resaveKeptMax) // others wait for the lease
	}
	wait -= rand.N(wait / 4)
	r.timer = time.AfterFunc(wait, s.resaveNow)
}

// resaveNow is a background save of s.latest. It waits for the turn: a
// flight holding it ends within its deadlines, and saves the token too.
func (s *Source) resaveNow() {
	s.turn <- struct{}{}
	defer s.endTurn()
	s.resave.timer = nil
	if s.latest == nil || (sameToken(s.latest, s.stored) && !s.ownIntent()) {
		s.resave.attempts = 0 // saved meanwhile
		s.giveBackLease()
		return
	}
	f := &flight{ctx: context.Background(), reason: reasonResave}
	_, err := s.save(f, s.latest)
	switch {
	case f.loggedOut:
		s.mu.Lock()
		s.cur.Store(nil)
		s.mu.Unlock()
		s.resave.attempts = 0
	case err != nil:
		s.resave.attempts++
		s.scheduleResave()
		if s.resave.timer != nil && s.leaseKept() {
			return // the lease is kept a while longer
		}
	default:
		s.stats.resaves.Add(1)
		s.opts.log.Info("tokensource: saved the kept token in the background", "attempts", s.resave.attempts+1)
		s.resave.attempts = 0
	}
	s.giveBackLease()
}

// keepLease keeps lease, instead of giving it back, while the Source owes
// the store a save: whoever took the lease next would find the store
// without the token this Source holds, and repeat its login, or present the
// refresh token it spent. The lease is given back once the background save
// lands or gives up, lockDelay after it was first kept at the latest, or by
// [Source.Wait]; a flight that needs the store's lock meanwhile takes it
// over (see acquire). A Locker's lock is not kept: it cannot be lost, so it
// has no TTL to end it should this process die. The caller holds the turn.
func (s *Source) keepLease(lease Lease) bool {
	r := &s.resave
	if _, plain := lease.(unlockLease); plain || r.timer == nil || isClosed(lease.Lost()) {
		r.keptSince = time.Time{}
		return false
	}
	if r.keptSince.IsZero() {
		r.keptSince = time.Now()
	}
	if !s.leaseKept() {
		r.keptSince = time.Time{}
		return false
	}
	r.lease = lease
	return true
}

// leaseKept reports whether a lease kept for the save owed may be kept
// still. The caller holds the turn.
func (s *Source) leaseKept() bool {
	return !s.resave.keptSince.IsZero() && time.Since(s.resave.keptSince) < s.lockDelay()
}

// takeKeptLease hands the caller the lease kept for a save still owed, if
// it is still held, or returns nil. The caller holds the turn.
func (s *Source) takeKeptLease() Lease {
	l := s.resave.lease
	s.resave.lease = nil
	if l != nil && isClosed(l.Lost()) {
		s.release(l)
		return nil
	}
	return l
}

// giveBackLease releases the lease kept for a save, if any. The caller
// holds the turn.
func (s *Source) giveBackLease() {
	if l := s.takeKeptLease(); l != nil {
		s.release(l)
	}
	s.resave.keptSince = time.Time{}
}

// reasonResave names the flight of a background save in its hooks.
const reasonResave RefreshReason = "resave"
