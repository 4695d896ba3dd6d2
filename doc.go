// Package tokensource keeps HTTP clients authenticated with OAuth 2.0 for as
// long as a program runs, and across restarts.
//
// A Source is an oauth2.TokenSource. It serves its cached token while the
// token is valid, refreshes it when it expires or when a server rejects it,
// runs one refresh at a time with every waiter sharing the result, and saves
// every new token to a Store (a file, memory, or your own) before it hands
// the token out, so that a rotated refresh token outlives the process and
// can be shared by several processes.
//
// Make a Source with FromConfig, which refreshes with the refresh token
// grant of an oauth2.Config, or with New and a RefreshFunc of your own (for
// client credentials, say). The first token comes from the Store: save the
// token the user's login gave you there. When there is nothing to refresh
// with, or the server refuses the refresh token (invalid_grant), the error
// wraps ErrReauthRequired, and the Source makes no token request until the
// Store holds a different token.
//
// # Three ways to use it
//
// NewClient(ctx, src) returns an *http.Client whose Transport adds the token
// to each request and, when the server answers 401 because of that token,
// invalidates it, gets a new one and sends the request once more. Requests
// rejected together cause one refresh. This is the way for calls to your
// own APIs.
//
// A Source is an oauth2.TokenSource, so it can be passed to
// oauth2.NewClient, and to cloud SDKs (option.WithTokenSource for the
// google.golang.org/api clients). They refresh on expiry but do not react to
// a 401, and oauth2.NewClient keeps its own copy of the token in front of
// the Source: a token the server rejects early is sent until it expires.
// Token returns a copy of the token for each such cache, so that several can
// share one Source.
//
// In code that uses tokens some other way (gRPC credentials, a websocket,
// a message queue), call Source.TokenContext for a token,
// Source.Invalidate when a server rejects it, and Source.Confirm when a
// server accepts it. Source.Refresh forces a refresh.
//
// # What is guaranteed
//
//   - One refresh at a time per Source. Callers that need a token while it
//     runs wait for it and all get its result, the new token or its error: a
//     failure is not retried by each waiter in turn. The next attempt waits
//     between half a second and a second, a wait that doubles with each
//     failure in a row up to a minute; meanwhile, callers without a valid
//     token get the last error at once. A longer Retry-After from the
//     token endpoint, up to ten minutes, lengthens the wait; it never
//     shortens it. Refresh skips the wait. An answer of
//     invalid_grant, or nothing to refresh with, is ErrReauthRequired: no
//     token request is made until the Store holds a different token.
//     A Store that cannot be loaded or locked, a panic, and a token that has
//     already expired are failures like the others; so is a new token that a
//     server rejects before accepting any request with it, so that a server
//     that rejects every token costs a refresh per wait, not per request.
//   - A caller's context bounds only that caller's wait. The refresh runs
//     detached from every caller, bounded by Options.RefreshTimeout, and
//     completes for the others; it keeps the values of the caller's
//     context that started it (a trace span, say), not its cancellation.
//   - No rotated token is lost. A new token is saved before any caller gets
//     it. If the Save fails, the token is still used; the failure is logged
//     and counted in Stats.SaveErrors, and the token is saved again before
//     the next refresh uses its refresh token. A refresh may still be
//     running, in the background, when a program ends: call Source.Wait
//     before exiting so that its token is saved too.
//   - Processes that share a Store which is also a Locker, such as a
//     FileStore, refresh one at a time. Under the lock, a Source reloads the
//     Store: if another process saved a valid token meanwhile, it adopts
//     that token instead of refreshing; otherwise it refreshes with the
//     refresh token it read under the lock, which may be newer than the one
//     in memory, saves, and unlocks; a failed save of a rotated refresh
//     token is tried again, for up to two seconds, before the unlock. A
//     rotated refresh token is presented once, unless the answer to its
//     refresh was lost (see FromConfig), or the Store failed to save it for
//     longer: then another process may load and present the spent one, and
//     if the Store stays down until the program exits, the new one is lost
//     with it.
//
// # Token states
//
// A cached token is fresh, stale or expired.
//
//   - Fresh: served at once, with no allocation and no I/O.
//   - Stale: inside the refresh-ahead window, Options.RefreshAhead before
//     the early expiry, but never before half of the token's lifetime. The
//     token is still served, and the first caller to see it stale starts one
//     refresh in the background. If that refresh fails, the token is kept,
//     and the first caller after the backoff starts the next one.
//   - Expired: past its Expiry minus Options.EarlyExpiry on the wall clock
//     (which, unlike the monotonic clock, runs while a machine sleeps), or rejected
//     through Invalidate. Callers wait for a refresh. The early expiry is
//     capped at a quarter of the lifetime the token had when the Source got
//     it, so that a token that lives a few seconds is still used for most of
//     its life.
//
// # The token file
//
// A FileStore keeps one token in a JSON file, in the format
// json.Marshal(*oauth2.Token) writes, plus the id_token and scope the token
// may carry:
//
//	{
//	  "access_token": "…",
//	  "token_type": "Bearer",
//	  "refresh_token": "…",
//	  "expiry": "2030-01-01T13:00:00Z",
//	  "expires_in": 3600
//	}
//
// Writes are atomic: a temporary file in the same folder, flushed to disk,
// renamed over the old one. On Unix the file has mode 0600, and a folder
// the FileStore creates has mode 0700. A corrupt file makes Load fail with
// an error naming the path, and is left as it is. Lock locks a second file,
// the path plus ".lock", so that processes on one machine can share the
// token.
//
// # What is never logged
//
// With Options.Logger set, a Source logs refreshes, failed refreshes and
// saves, adoptions and invalidations with expiry times and errors, never a
// token value. The errors of this package quote no token either: an
// EndpointError shows the status, error code and description of the token
// endpoint's answer, not its body, and FileStore errors never quote the
// file.
//
// # Metrics and traces
//
// Options.Hooks reports each refresh (why it started, how it ended, how long
// it took and waited for the store's lock), each save and invalidation, and
// each 401 a Transport handled, never with a token value, and never on the
// hot path. Module github.com/oauthkit/tokensource/otelsource turns them
// into OpenTelemetry metrics and spans.
//
// Package tokensourcetest provides an OAuth 2.0 server for tests, with
// rotation, reuse detection, revocation and fault injection.
package tokensource
