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
)

// resaveState is the background save of s.latest; its holder of the
// Source's turn owns it.
type resaveState struct {
	timer    *time.Timer // the next attempt, or nil
	attempts int         // attempts that failed in a row
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
	default:
		s.stats.resaves.Add(1)
		s.opts.log.Info("tokensource: saved the kept token in the background", "attempts", s.resave.attempts+1)
		s.resave.attempts = 0
	}
}

// reasonResave names the flight of a background save in its hooks.
const reasonResave RefreshReason = "resave"
