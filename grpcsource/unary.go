package grpcsource

import (
	"context"

	"github.com/oauthkit/tokensource"
	"google.golang.org/grpc"
)

// UnaryClientInterceptor returns an interceptor that makes each unary call
// with a token from src, got with the call's context, as per-RPC
// credentials that require transport security. No Option is defined yet.
//
// A call that fails with codes.Unauthenticated invalidates the token it
// carried ([tokensource.Source.InvalidateContext]) and is made once more
// with a new token: its request is sent at most twice, and any number of
// calls rejected together cause one refresh. Every other code,
// codes.PermissionDenied included, is returned as it is, and so is the
// second attempt's result, which is reported to the Source's Unauthorized
// hook ([tokensource.Source.Rejected]). Any answer but Unauthenticated
// confirms the token ([tokensource.Source.Confirm]): NotFound or
// PermissionDenied come from a server that accepted it. Canceled,
// DeadlineExceeded and Unavailable confirm nothing, as grpc makes them up
// when no answer came.
//
// When no token can be had, the call fails without being sent, with an
// error that wraps the Source's (errors.Is works on it) and has the status
// codes.Unauthenticated, or Canceled or DeadlineExceeded when the call's
// context ended. Call options apply to both attempts of a retried call:
// grpc.OnFinish runs for each, and grpc.Header and grpc.Trailer get the
// second's.
//
// A call that brings its own credentials is made as it is, without retry:
// per-RPC credentials among its call options (grpc.PerRPCCredentials, or a
// *grpc.PerRPCCredsCallOption) or an authorization value in its context's
// outgoing metadata. Credentials given to the connection with
// grpc.WithPerRPCCredentials cannot be seen by an interceptor: a
// connection that has them sends two authorization values, which servers
// may reject.
func UnaryClientInterceptor(src *tokensource.Source, opts ...Option) grpc.UnaryClientInterceptor {
	_ = newConfig(opts)
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if hasCredentials(ctx, opts) {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		withToken, creds := withCreds(src, opts)
		err := invoker(ctx, method, req, reply, cc, withToken...)
		if !creds.report(ctx, err) {
			return err
		}
		withToken, creds = withCreds(src, opts)
		err = invoker(ctx, method, req, reply, cc, withToken...)
		creds.report(ctx, err)
		src.Rejected(ctx, tokensource.UnauthorizedInfo{Retried: true, Outcome: creds.outcome(err)})
		return err
	}
}
