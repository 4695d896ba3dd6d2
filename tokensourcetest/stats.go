package tokensourcetest

// Stats counts what a Server saw since it started. Read it with Server.Stats.
type Stats struct {
	// TokenRequests counts every request to the token endpoint, whatever its
	// method, grant or outcome, faults included.
	TokenRequests int64

	// Refreshes counts refresh_token grants that produced a token. A refresh
	// whose response FaultLoseResponse dropped counts here too: the server
	// rotated the token even though the client never saw it.
	Refreshes int64

	// RefreshFailures counts refresh_token grants answered with an error,
	// including injected faults (except FaultLoseResponse, which counts as
	// what the refresh itself did) and client authentication failures.
	RefreshFailures int64

	// ReuseDetected counts refresh tokens presented again after they were
	// used, outside Options.ReuseGrace. Each one revoked its family.
	ReuseDetected int64

	// Issued counts access tokens issued, by any grant or by Server.Login.
	Issued int64

	// Resource200, Resource401 and Resource403 count the protected
	// resource's answers by status code.
	Resource200, Resource401, Resource403 int64
}

// Stats returns a snapshot of the server's counters. Counters only grow; a
// test that shares a server between phases can subtract two snapshots.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}
