package tokensourcetest

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// A Fault is a way for a token request to go wrong. FailNext queues them.
type Fault int

// The faults a token request can be made to suffer. Unless a fault says
// otherwise, the request is not processed: no token is used, issued or
// revoked.
const (
	// FaultServerError responds 500 with the JSON body
	// {"error":"server_error",...}.
	FaultServerError Fault = iota + 1

	// FaultUnavailable responds 503 with Retry-After: 2 and a JSON
	// temporarily_unavailable error.
	FaultUnavailable

	// FaultTooManyRequests responds 429 with Retry-After: 2 and a JSON
	// temporarily_unavailable error.
	FaultTooManyRequests

	// FaultMalformedJSON responds 200 with Content-Type application/json and
	// a body that is not JSON.
	FaultMalformedJSON

	// FaultMissingAccessToken responds 200 with a JSON token response that
	// lacks access_token.
	FaultMissingAccessToken

	// FaultHang sends no response until the request's context ends (the client
	// gives up) or the server is closed; then the connection is closed.
	FaultHang

	// FaultResetConnection closes the connection without responding.
	FaultResetConnection

	// FaultLoseResponse processes the request normally, then closes the
	// connection without sending the response. For a refresh with rotation,
	// the presented refresh token is then used: presenting it again is
	// reuse (unless within Options.ReuseGrace).
	FaultLoseResponse

	// FaultInvalidGrant responds 400 invalid_grant, leaving the presented
	// refresh token and its family as they were.
	FaultInvalidGrant

	// FaultInvalidClient responds 401 invalid_client with a Basic
	// WWW-Authenticate challenge.
	FaultInvalidClient
)

var faultNames = [...]string{
	FaultServerError:        "FaultServerError",
	FaultUnavailable:        "FaultUnavailable",
	FaultTooManyRequests:    "FaultTooManyRequests",
	FaultMalformedJSON:      "FaultMalformedJSON",
	FaultMissingAccessToken: "FaultMissingAccessToken",
	FaultHang:               "FaultHang",
	FaultResetConnection:    "FaultResetConnection",
	FaultLoseResponse:       "FaultLoseResponse",
	FaultInvalidGrant:       "FaultInvalidGrant",
	FaultInvalidClient:      "FaultInvalidClient",
}

// valid reports whether f is one of the defined faults.
func (f Fault) valid() bool {
	return f > 0 && int(f) < len(faultNames)
}

// String returns the name of the constant f, such as "FaultHang", or
// "Fault(n)" for an undefined value.
func (f Fault) String() string {
	if f.valid() {
		return faultNames[f]
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// FailNext makes the next n requests to the token endpoint fail with f, in
// the order they arrive, whatever their grant or method. Calls queue up: a
// later call's faults come after those still pending. n <= 0 does nothing.
// FailNext panics if f is not one of the defined faults.
//
// Faults apply after Latency. A refresh_token grant that meets a fault
// counts in Stats.RefreshFailures, except with FaultLoseResponse, where it
// counts as what the refresh itself did.
func (s *Server) FailNext(n int, f Fault) {
	if !f.valid() {
		panic(fmt.Sprintf("tokensourcetest: FailNext with undefined %v", f))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults = append(s.faults, f)
	}
}

// nextFaultLocked removes and returns the next queued fault, or 0 if none
// is queued. s.mu must be held.
func (s *Server) nextFaultLocked() Fault {
	if len(s.faults) == 0 {
		return 0
	}
	f := s.faults[0]
	s.faults = s.faults[1:]
	return f
}

// SetLatency sets the delay added to every token-endpoint response from now
// on, replacing Options.Latency. 0 or less means none. It is real time, not
// the server clock. A request whose context ends or whose server is closed
// stops waiting at once, and its connection is closed without a response.
// Requests already waiting keep the latency they started with.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// wait blocks for d of real time, and reports whether it did; it returns
// false early if ctx ends or the server is closed.
func (s *Server) wait(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
	case <-s.closed:
	}
	return false
}

// serveFault responds to a token request with the fault f, which is not
// FaultLoseResponse.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f Fault) {
	switch f {
	case FaultServerError:
		tokenError(http.StatusInternalServerError, "server_error", "injected fault: server error").write(w)
	case FaultUnavailable:
		res := tokenError(http.StatusServiceUnavailable, "temporarily_unavailable", "injected fault: unavailable")
		res.header = map[string]string{"Retry-After": "2"}
		res.write(w)
	case FaultTooManyRequests:
		res := tokenError(http.StatusTooManyRequests, "temporarily_unavailable", "injected fault: too many requests")
		res.header = map[string]string{"Retry-After": "2"}
		res.write(w)
	case FaultMalformedJSON:
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
		w.Write([]byte(`{"access_token": "at_truncated`))
	case FaultMissingAccessToken:
		tokenResult{status: http.StatusOK, body: map[string]any{"token_type": "Bearer", "expires_in": 3600}}.write(w)
	case FaultHang:
		select {
		case <-r.Context().Done():
		case <-s.closed:
		}
		dropConnection(w)
	case FaultResetConnection:
		dropConnection(w)
	case FaultInvalidGrant:
		invalidGrant("injected fault: invalid grant").write(w)
	case FaultInvalidClient:
		invalidClient("injected fault: invalid client").write(w)
	}
}

// dropConnection closes the connection of w without sending a response.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Not HTTP/1: abort the response the way net/http provides.
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}
