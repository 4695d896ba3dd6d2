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
type callCreds struct {
	src *tokensource.Source
	// sent is the token handed to grpc, nil until then. An atomic: grpc may
	// ask again, for a transparent retry of a stream, in the goroutine of
	// SendMsg while RecvMsg reads it.
	sent atomic.Pointer[oauth2.Token]
}

// withCreds returns opts with per-RPC credentials for a new attempt, and
// those credentials. opts is not modified.
func withCreds(src *tokensource.Source, opts []grpc.CallOption) ([]grpc.CallOption, *callCreds) {
	c := &callCreds{src: src}
	return append(opts[:len(opts):len(opts)], grpc.PerRPCCredentials(c)), c
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
// carried, given the attempt's err: on success (io.EOF ends a stream that
// succeeded), Confirm; on codes.Unauthenticated, Invalidate, and then it
// returns true. An attempt that carried no token failed before any server
// could judge one: the connection is insecure, or no token could be had;
// so did one whose credentials failed when asked again (grpc may ask twice
// in one attempt).
func (c *callCreds) report(err error) (rejected bool) {
	tok := c.sent.Load()
	var local *tokenError
	switch {
	case tok == nil, errors.As(err, &local):
	case err == nil || err == io.EOF:
		c.src.Confirm(tok)
	case status.Code(err) == codes.Unauthenticated:
		c.src.Invalidate(tok)
		return true
	}
	return false
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
// with per-RPC credentials among opts or an authorization value in ctx's
// outgoing metadata. Such a call is left as it is, like a request that
// already has an Authorization header in tokensource.Transport.
func hasCredentials(ctx context.Context, opts []grpc.CallOption) bool {
	for _, o := range opts {
		if _, ok := o.(grpc.PerRPCCredsCallOption); ok {
			return true
		}
	}
	return len(metadata.ValueFromOutgoingContext(ctx, "authorization")) > 0
}
