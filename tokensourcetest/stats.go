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

	// RefreshFailures counts refresh_token grants that got an error response,
	// including injected faults (except FaultLoseResponse, which counts as
	// what the refresh itself did) and client authentication failures.
	RefreshFailures int64

	// ReuseDetected counts refresh tokens presented again after they were
	// used, outside Options.ReuseGrace. Each one revoked its family.
	ReuseDetected int64

	// Issued counts access tokens issued, by any grant or by Server.Login.
	Issued int64

	// Authorizations counts requests to the authorization endpoint that
	// were redirected with a code; CodeExchanges counts authorization_code
	// grants that produced a token.
	Authorizations, CodeExchanges int64

	// DeviceAuthorizations counts device codes issued. DevicePolls counts
	// device_code grants, whatever their outcome; SlowDowns those answered
	// slow_down, forced by SlowDownNext or earned by polling too fast.
	DeviceAuthorizations, DevicePolls, SlowDowns int64

	// RevocationRequests counts every request to the revocation endpoint
	// with the POST method, whatever its outcome; Revocations those that
	// revoked a token the server knew (again, if it already was revoked).
	RevocationRequests, Revocations int64

	// Resource200, Resource401 and Resource403 count the protected
	// resource's responses by status code.
	Resource200, Resource401, Resource403 int64

	// DPoPProofsRejected counts DPoP proofs refused, in DPoP mode, at the
	// token endpoint and at the resource: a missing, malformed or
	// badly signed proof, a wrong typ, alg or jwk, htm, htu or ath, an iat
	// out of the window, a replayed jti, and a key other than the one a
	// token is bound to (a refresh or resource request by another key). A
	// request refused for its nonce counts in DPoPNonceChallenges instead.
	// A token request or resource request counts at most once here.
	DPoPProofsRejected int64

	// DPoPNonceChallenges counts use_dpop_nonce answers, at the token
	// endpoint and at the resource, to proofs without the current nonce. A
	// refresh_token grant answered so also counts in RefreshFailures, as
	// every error response to a refresh does.
	DPoPNonceChallenges int64
}

// Stats returns a snapshot of the server's counters. Counters only grow; a
// test that shares a server between phases can subtract two snapshots.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// FamilyRefreshes returns how many refresh_token grants produced a token in
// the family of token: the refreshes of one login, counted as
// Stats.Refreshes counts them for all. token may be any access or refresh
// token of the family, used or not. An unknown token, or an access token of
// the client_credentials grant, which has no family, gives 0.
func (s *Server) FamilyRefreshes(token string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rt := s.refresh[token]; rt != nil {
		return rt.fam.refreshes
	}
	if at := s.access[token]; at != nil && at.fam != nil {
		return at.fam.refreshes
	}
	return 0
}
