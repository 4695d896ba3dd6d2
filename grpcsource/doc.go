// Package grpcsource authenticates gRPC calls with a [tokensource.Source],
// and recovers when a server rejects a token before its expiry.
//
// [UnaryClientInterceptor] and [StreamClientInterceptor] give each call a
// token from the Source as per-RPC credentials. A call that fails
// with codes.Unauthenticated invalidates the token it carried
// ([tokensource.Source.Invalidate]) and is made once more with a new one (a
// stream only when it was rejected before any message was received: see
// [StreamClientInterceptor]); calls rejected together cause one refresh,
// and each rejection is reported to the Source's Unauthorized hook
// ([tokensource.Source.Rejected]), as a [tokensource.Transport] reports a
// 401. A call that any other answer ends (OK, NotFound, PermissionDenied...)
// confirms its token ([tokensource.Source.Confirm]), so that a server that
// rejects every new token costs a bounded number of refreshes, and a
// revocation one. Install both on the connection:
//
//	conn, err := grpc.NewClient(target,
//		grpc.WithTransportCredentials(credentials.NewTLS(nil)),
//		grpc.WithUnaryInterceptor(grpcsource.UnaryClientInterceptor(src)),
//		grpc.WithStreamInterceptor(grpcsource.StreamClientInterceptor(src)))
//
// A call that brings its own per-RPC credentials, or an authorization
// value in its outgoing metadata, is left as it is. Credentials given to the
// connection with grpc.WithPerRPCCredentials cannot be seen from an
// interceptor: do not combine them with these.
//
// Per-RPC credentials alone, such as credentials/oauth.TokenSource{src},
// refresh on expiry but never learn of a rejection: a revoked token is sent
// until it expires.
//
// The credentials require transport security: over a connection without it
// (insecure.NewCredentials), no token is fetched or sent, and each call
// fails with codes.Unauthenticated, "transport: cannot send secure
// credentials on an insecure connection".
package grpcsource
