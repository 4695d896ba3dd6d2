package tokensource

import (
	"sync/atomic"
	"time"
)

// Stats counts what a Source did since New.
//
// RefreshErrors counts every failure that backs off: of the RefreshFunc,
// of loading or locking the store before it, and of a new token that a
// server rejected before it worked (see [Source.Invalidate]).
type Stats struct {
	Refreshes, RefreshErrors int64 // refreshes that succeeded / failed
	Adopted                  int64 // tokens taken from the store, instead of refreshing, that someone else saved (another process, a new login) after the first load
	Saves, SaveErrors        int64 // Store.Save calls that succeeded / failed, each attempt counted
	Invalidations            int64 // Invalidate calls that actually dropped the current token
	TakeOvers                int64 // refreshes that sent a refresh token another Source had recorded its intent on and never resolved (see [Hooks].TakeOver)
	Resaves                  int64 // saves of a kept token retried in the background after its save failed, that succeeded
	Logins, LoginErrors      int64 // calls of [Options].Login that succeeded / failed
}

type counters struct {
	refreshes, refreshErrors, adopted, saves, saveErrors, invalidations, takeovers, resaves, logins, loginErrors atomic.Int64
}

// Stats returns a snapshot of the Source's counters.
func (s *Source) Stats() Stats {
	c := &s.stats
	return Stats{
		Refreshes:     c.refreshes.Load(),
		RefreshErrors: c.refreshErrors.Load(),
		Adopted:       c.adopted.Load(),
		Saves:         c.saves.Load(),
		SaveErrors:    c.saveErrors.Load(),
		TakeOvers:     c.takeovers.Load(),
		Resaves:       c.resaves.Load(),
		Logins:        c.logins.Load(),
		LoginErrors:   c.loginErrors.Load(),
		Invalidations: c.invalidations.Load(),
	}
}

// Remaining returns how long the token the Source serves has until its
// Expiry, by the Source's clock ([Options.Now]), and true; it is negative once
// the Expiry has passed, until a refresh replaces the token. It returns false
// when the Source serves no token (none was loaded yet, or a server rejected
// the last one: [Source.Invalidate]) or one that never expires. Like the hot
// path, it takes no lock and does no I/O.
func (s *Source) Remaining() (time.Duration, bool) {
	c := s.cur.Load()
	if c == nil || c.dead || c.tok.Expiry.IsZero() {
		return 0, false
	}
	return c.tok.Expiry.Sub(s.now()), true
}
