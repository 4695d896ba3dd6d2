package tokensourcetest

import (
	"net/http"
	"time"
)

// dpopNoncePrefix begins DPoP nonces, as accessPrefix begins access tokens.
const dpopNoncePrefix = "dn_"

// dpopState is the server's DPoP state, guarded by Server.mu.
type dpopState struct {
	nonce   string
	nonceAt time.Time           // server clock when nonce was made
	jtis    map[string]struct{} // of every accepted proof, never forgotten
}

// DPoPNonce returns the nonce that DPoP proofs must carry now, the value the
// server sends in its DPoP-Nonce headers. It is random and unpredictable
// (RFC 9449 §8). In DPoP mode, it changes only when RotateDPoPNonce is
// called or, if Options.DPoPNonceLifetime is positive, once that lifetime
// has passed by the server clock; a rotation due by the clock happens on
// this call if no request made it happen first. Without Options.DPoP it
// returns "".
func (s *Server) DPoPNonce() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.opts.DPoP {
		return ""
	}
	return s.dpopNonceLocked()
}

// RotateDPoPNonce replaces the server's DPoP nonce with a new random one at
// once. The old one is stale from then on: a proof that carries it gets
// use_dpop_nonce, with the new nonce in the DPoP-Nonce header, at the token
// endpoint and at the resource alike. There is no grace period. Proofs
// already accepted, and the tokens they obtained, are not affected. Without
// Options.DPoP it does nothing.
func (s *Server) RotateDPoPNonce() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.DPoP {
		s.rotateDPoPNonceLocked()
	}
}

// rotateDPoPNonceLocked makes a new nonce. s.mu must be held, or s not yet
// shared.
func (s *Server) rotateDPoPNonceLocked() {
	s.dpop.nonce = newToken(dpopNoncePrefix)
	s.dpop.nonceAt = s.now()
}

// dpopNonceLocked returns the current nonce, rotating it first if
// Options.DPoPNonceLifetime has passed since it was made. s.mu must be held.
func (s *Server) dpopNonceLocked() string {
	lifetime := s.opts.DPoPNonceLifetime
	if s.dpop.nonce == "" || lifetime > 0 && !s.now().Before(s.dpop.nonceAt.Add(lifetime)) {
		s.rotateDPoPNonceLocked()
	}
	return s.dpop.nonce
}

// setDPoPNonce puts the current nonce in the DPoP-Nonce header of w in DPoP
// mode, and does nothing otherwise. s.mu must not be held.
func (s *Server) setDPoPNonce(w http.ResponseWriter) {
	if n := s.DPoPNonce(); n != "" {
		w.Header().Set("DPoP-Nonce", n)
	}
}
