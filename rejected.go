package tokensource

import (
	"context"
	"net/http"
)

// Rejected reports a response that rejected a request's token to the
// Unauthorized hook ([Hooks]), with the request's ctx, so that clients of
// every protocol are counted alike: call it once per rejection, when the
// client knows what it returns (after its retry, if it made one). It only
// reports: call [Source.InvalidateContext] with the rejected token first,
// so that the next token is a new one. [Transport] and grpcsource call it
// themselves.
//
// An empty info.Outcome is worked out from Retried and StatusCode, as for
// HTTP: RejectionReturned when not retried, RejectionError for a
// StatusCode of 0, RejectionRejected for a 401, RejectionRecovered
// otherwise. Rejected costs nothing without the hook, and a hook that
// panics is recovered and logged.
func (s *Source) Rejected(ctx context.Context, info UnauthorizedInfo) {
	h := s.opts.hooks
	if h == nil || h.Unauthorized == nil {
		return
	}
	if info.Outcome == "" {
		info.Outcome = outcomeOf(info)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	defer s.guard("Unauthorized")
	h.Unauthorized(ctx, info)
}

// outcomeOf works out the outcome of an HTTP rejection.
func outcomeOf(info UnauthorizedInfo) RejectionOutcome {
	switch {
	case !info.Retried:
		return RejectionReturned
	case info.StatusCode == 0:
		return RejectionError
	case info.StatusCode == http.StatusUnauthorized:
		return RejectionRejected
	}
	return RejectionRecovered
}
