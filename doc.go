// Package tokensource keeps programs authenticated with OAuth 2.0 for as
// long as they run, and across restarts.
//
// A [Source] is an [oauth2.TokenSource]. It serves its cached token while
// the token is valid, refreshes it when it expires or when a server rejects
// it, runs one refresh at a time with every waiter sharing the result, and
// saves every new token to a [Store] before anyone gets it: a [FileStore],
// a [MemoryStore], Redis or PostgreSQL (modules redisstore and pgstore), or
// your own. Processes and replicas that share a Store which is also a
// [Locker] refresh one at a time, so a rotated refresh token is used once.
//
// Make a Source with [FromConfig], which uses the refresh token grant of an
// [oauth2.Config], or with [New] and a [RefreshFunc] of your own (client
// credentials, say). With [Options.Login] (package login: a browser or a
// device code), the Source logs the user in itself when no grant is
// usable, once for every Source and process sharing the Store, and
// [Source.Logout] revokes the grant and leaves a tombstone that stops them
// all. Without it, the first token comes from the Store, and when there is
// nothing to refresh with, or the server refuses the refresh token, errors
// wrap [ErrReauthRequired]: log the user in again and save the new token;
// until then the Source sends no token request.
//
// Every store keeps one [Record] format, which an [Encrypter] seals at rest
// ([NewAESGCM], or a KMS through gocloud.dev/secrets; module keyringstore
// keeps it in the OS keyring). [Options.DPoP] makes the tokens
// sender-constrained (RFC 9449).
//
// There are three ways to use a Source:
//
//   - [NewClient] returns an *http.Client whose [Transport] adds the token
//     to each request and, when a server rejects that token with a 401,
//     refreshes once and sends the request once more.
//   - As an oauth2.TokenSource, in [oauth2.NewClient] or a cloud SDK. The
//     token is refreshed when it expires, but one that a server rejects
//     early is sent until it expires.
//   - By hand: [Source.TokenContext] for a token, [Source.Invalidate] when a
//     server rejects it, [Source.Confirm] when a server accepts it. Module
//     grpcsource does this for gRPC.
//
// A [Pool] keeps one Source per account, for a program that serves many.
// [Options.Hooks] reports refreshes, saves and rejected tokens, for metrics
// and traces (module otelsource). Package tokensourcetest is an OAuth 2.0
// server for tests.
//
// No token value is ever logged, or quoted in an error.
package tokensource
