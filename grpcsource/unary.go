package grpcsource

import (
	"context"

	"github.com/oauthkit/tokensource"
	"google.golang.org/grpc"
)

// UnaryClientInterceptor returns an interceptor that makes each unary call
// with a token from src, got with the call's context, as per-RPC
// credentials that require transport security.
//
// A call that fails with codes.Unauthenticated invalidates the token it
// carried ([tokensource.Source.Invalidate]) and is made once more with a new
// token: its request is sent at most twice, and any number of calls
// rejected together cause one refresh. Every other code,
// codes.PermissionDenied included, is returned as it is, and so is the
// second attempt's result. A call that succeeds confirms its token
// ([tokensource.Source.Confirm]).
//
// When no token can be had, the call fails without being sent, with an
// error that wraps the Source's (errors.Is works on it) and has the status
// codes.Unauthenticated, or Canceled or DeadlineExceeded when the call's
// context ended. Call options apply to both attempts of a retried call:
// grpc.OnFinish runs for each, and grpc.Header and grpc.Trailer get the
// second's. A call that brings its own credentials, per-RPC
// credentials among its call options or an authorization value in its
// context's outgoing metadata, is made as it is, without retry.
func UnaryClientInterceptor(src *tokensource.Source) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if hasCredentials(ctx, opts) {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		withToken, creds := withCreds(src, opts)
		err := invoker(ctx, method, req, reply, cc, withToken...)
		if !creds.report(err) {
			return err
		}
		withToken, creds = withCreds(src, opts)
		err = invoker(ctx, method, req, reply, cc, withToken...)
		creds.report(err)
		return err
	}
}
