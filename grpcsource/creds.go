package grpcsource

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/oauthkit/tokensource"
	"golang.org/x/oauth2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// callCreds are the per-RPC credentials of one attempt of a call. grpc asks
// them for the call's metadata only over a connection with transport
// security; they get the token then, and remember it as the one the
// attempt carried.
//
// They hold the call option that carries them, and room for the call's
// options, so that an attempt costs one allocation.
type callCreds struct {
	src *tokensource.Source
	// sent is the token handed to grpc, nil until then. An atomic: grpc may
	// ask again, for a transparent retry of a stream, in the goroutine of
	// SendMsg while RecvMsg reads it.
	sent atomic.Pointer[oauth2.Token]

	opt grpc.PerRPCCredsCallOption // Creds is this callCreds; passed by pointer
	buf [4]grpc.CallOption         // the attempt's options, when they fit
}

// withCreds returns opts with per-RPC credentials for a new attempt, and
// those credentials. opts is not modified.
func withCreds(src *tokensource.Source, opts []grpc.CallOption) ([]grpc.CallOption, *callCreds) {
	c := &callCreds{src: src}
	c.opt.Creds = c
	all := c.buf[:0]
	if len(opts) >= len(c.buf) {
		all = make([]grpc.CallOption, 0, len(opts)+1)
	}
	// A pointer is a CallOption too, and costs no allocation of its own.
	return append(append(all, opts...), &c.opt), c
}

// GetRequestMetadata returns the authorization metadata for a token from
// the Source, waiting for it no longer than ctx, the call's context. It
// checks the connection's security itself, as grpc's own oauth credentials
// do, so that no transport can get a token over an insecure connection.
func (c *callCreds) GetRequestMetadata(ctx context.Context, _ ...string) (map[string]string, error) {
	ri, _ := credentials.RequestInfoFromContext(ctx)
	if err := credentials.CheckSecurityLevel(ri.AuthInfo, credentials.PrivacyAndIntegrity); err != nil {
		return nil, status.Errorf(codes.Unauthenticated, "grpcsource: no token over this connection: %v", err)
	}
	tok, err := c.src.TokenContext(ctx)
	if err != nil {
		return nil, &tokenError{err}
	}
	c.sent.Store(tok)
	return map[string]string{"authorization": tok.Type() + " " + tok.AccessToken}, nil
}

// RequireTransportSecurity reports true: a token is never sent in the clear.
func (c *callCreds) RequireTransportSecurity() bool { return true }

// report tells the Source what the server made of the token this attempt
// carried, given the attempt's err, and returns true if it rejected it:
// codes.Unauthenticated invalidates the token (with ctx, the call's), and
// any other answer confirms it, as the Transport does for every HTTP status
// but 401. Canceled, DeadlineExceeded and Unavailable confirm nothing: grpc
// makes them up itself when no answer came, as an HTTP client returns an
// error. An attempt that carried no token failed before any server could
// judge one: the connection is insecure, or no token could be had; so did
// one whose credentials failed when asked again (grpc may ask twice in one
// attempt).
func (c *callCreds) report(ctx context.Context, err error) (rejected bool) {
	tok := c.sent.Load()
	switch {
	case tok == nil:
	case err == nil || err == io.EOF: // io.EOF ends a stream that succeeded
		c.src.Confirm(tok)
	case isTokenError(err):
	case status.Code(err) == codes.Unauthenticated:
		c.src.InvalidateContext(ctx, tok)
		return true
	case answered(err):
		c.src.Confirm(tok)
	}
	return false
}

// answered reports whether err, the failure of an attempt that carried a
// token, may be a server's answer to it (see report).
func answered(err error) bool {
	switch status.Code(err) {
	case codes.Canceled, codes.DeadlineExceeded, codes.Unavailable:
		return false
	}
	return true
}

// outcome returns what came of a call sent again after a rejection, given
// the second attempt's credentials and err.
func (c *callCreds) outcome(err error) tokensource.RejectionOutcome {
	switch {
	case err == nil || err == io.EOF:
		return tokensource.RejectionRecovered
	case c.sent.Load() == nil || isTokenError(err) || !answered(err):
		return tokensource.RejectionError
	case status.Code(err) == codes.Unauthenticated:
		return tokensource.RejectionRejected
	}
	return tokensource.RejectionRecovered
}

// isTokenError reports whether err is a *tokenError: no token could be had.
// It is a function of its own so that the target of errors.As is
// allocated only on that path.
func isTokenError(err error) bool {
	var local *tokenError
	return errors.As(err, &local)
}

// tokenError is the error of a call for which no token could be had. It
// wraps the Source's error, so that errors.Is(err,
// tokensource.ErrReauthRequired) works on what the call returns, and gives
// grpc the call's status: Canceled or DeadlineExceeded when the call's
// context ended, Unauthenticated otherwise, as for any per-RPC credentials
// that fail.
type tokenError struct{ err error }

func (e *tokenError) Error() string { return e.err.Error() }
func (e *tokenError) Unwrap() error { return e.err }

func (e *tokenError) GRPCStatus() *status.Status {
	if errors.Is(e.err, context.Canceled) || errors.Is(e.err, context.DeadlineExceeded) {
		return status.FromContextError(e.err)
	}
	return status.New(codes.Unauthenticated, e.err.Error())
}

// hasCredentials reports whether the caller authenticates the call itself,
// with per-RPC credentials among opts (a grpc.PerRPCCredsCallOption, as
// grpc.PerRPCCredentials returns, or a pointer to one) or an authorization
// value in ctx's outgoing metadata. Such a call is left as it is, like a
// request that already has an Authorization header in
// tokensource.Transport. Credentials given to the connection
// (grpc.WithPerRPCCredentials) cannot be seen from an interceptor.
func hasCredentials(ctx context.Context, opts []grpc.CallOption) bool {
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.PerRPCCredsCallOption:
			return true
		case *grpc.PerRPCCredsCallOption:
			if o != nil {
				return true
			}
		}
	}
	return len(metadata.ValueFromOutgoingContext(ctx, "authorization")) > 0
}
