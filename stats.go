package tokensource

import "sync/atomic"

// Stats counts what a Source did since New.
type Stats struct {
	Refreshes, RefreshErrors int64 // calls of the RefreshFunc that succeeded / failed
	Adopted                  int64 // tokens taken from the store, instead of refreshing, that someone else saved (another process, a new login)
	Saves, SaveErrors        int64 // Store.Save calls that succeeded / failed
	Invalidations            int64 // Invalidate calls that actually dropped the current token
}

type counters struct {
	refreshes, refreshErrors, adopted, saves, saveErrors, invalidations atomic.Int64
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
		Invalidations: c.invalidations.Load(),
	}
}
