// Package examples shows a tokensource.Source behind cloud SDKs, in a
// module of its own so that their dependencies stay out of the core. It
// holds only examples and tests.
//
// Of the ways to hand a Source to an SDK, only those that put
// tokensource.Transport under the SDK's requests react when a server
// rejects a token before its expiry (a 401): they invalidate it, refresh
// once, and send the request again. The others refresh on expiry only, and
// send a revoked token until then:
//
//   - google.golang.org/api: option.WithHTTPClient(tokensource.NewClient(ctx, src))
//     reacts. option.WithTokenSource(src) does not: the generated clients
//     hand the Source to cloud.google.com/go/auth, as below, token cache
//     included.
//   - cloud.google.com/go/auth/httptransport: DisableAuthentication with
//     BaseRoundTripper set to a tokensource.Transport reacts. The Source as
//     the TokenProvider of the Credentials does not, and more: NewClient puts
//     a token cache of its own in front of any Credentials
//     (auth.NewCachedTokenProvider), which keeps a token until a few minutes
//     before its expiry, out of reach of Source.Invalidate.
//     DisableAuthentication is needed with the Transport as base: the
//     library's own transport would otherwise set the Authorization header,
//     and a tokensource.Transport passes a request that has one through
//     untouched.
//
// For gRPC, see the grpcsource module.
package examples
