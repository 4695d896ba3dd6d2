// Package grpcsource authenticates gRPC calls with a [tokensource.Source],
// and recovers when a server rejects a token before its expiry.
//
// [UnaryClientInterceptor] and [StreamClientInterceptor] give each call a
// token from the Source as per-RPC credentials. A call that fails
// with codes.Unauthenticated invalidates the token it carried
// ([tokensource.Source.Invalidate]) and is made once more with a new one (a
// stream only when it was rejected before any message was received: see
// [StreamClientInterceptor]); calls rejected together cause one refresh. A call that succeeds confirms
// its token ([tokensource.Source.Confirm]), so that a server that rejects
// every new token costs a bounded number of refreshes. Install both on the
// connection:
//
//	conn, err := grpc.NewClient(target,
//		grpc.WithTransportCredentials(credentials.NewTLS(nil)),
//		grpc.WithUnaryInterceptor(grpcsource.UnaryClientInterceptor(src)),
//		grpc.WithStreamInterceptor(grpcsource.StreamClientInterceptor(src)))
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
