// Package otelsource reports what tokensource Sources do as OpenTelemetry
// metrics and traces, through their [tokensource.Hooks].
//
// Make one [Telemetry] with New, and give each Source its Hooks, with the
// attributes that tell Sources apart (the account key of a Pool, say); call
// Observe for the gauge of the token's remaining lifetime:
//
//	tel, err := otelsource.New()
//	if err != nil { ... }
//	attrs := attribute.String("account", key)
//	src := tokensource.FromConfig(ctx, conf, store, &tokensource.Options{Hooks: tel.Hooks(attrs)})
//	tel.Observe(src, attrs)
//
// A Source has one [tokensource.Options.Hooks]: to report to OpenTelemetry
// and to something else, join both with [tokensource.JoinHooks]. New takes
// options in the manner of otelhttp: a nil provider is ignored, and the
// instrumentation scope is ScopeName at [Version].
//
// # Metrics
//
// Every metric carries the attributes given to Hooks (or Observe), and:
//
//	tokensource.refreshes                   counter {refresh}  tokensource.refresh.reason, tokensource.refresh.outcome
//	tokensource.refresh.duration            histogram s        tokensource.refresh.reason, tokensource.refresh.outcome
//	tokensource.lock.wait_time              histogram s        (each refresh that got the store's lock)
//	tokensource.saves                       counter {save}     tokensource.save.outcome: saved, failed
//	tokensource.logins                      counter {login}    tokensource.login.outcome: logged_in, failed
//	tokensource.takeovers                   counter {refresh}  (see [tokensource.Hooks].TakeOver)
//	tokensource.invalidations               counter {invalidation}  tokensource.invalidation.never_worked
//	tokensource.rejections                  counter {response} tokensource.rejection.outcome
//	tokensource.token.remaining_lifetime    gauge s            (Sources passed to Observe)
//
// The reasons and outcomes are those of [tokensource.RefreshReason] and
// [tokensource.RefreshOutcome]: an adoption is a refresh with outcome
// "adopted"; one that logged in has the outcome "logged_in". They add up to
// a Source's Stats as [tokensource.Hooks] says:
//
//	Refreshes     = tokensource.refreshes{outcome="refreshed"}
//	Adopted       = tokensource.refreshes{outcome="adopted"}
//	RefreshErrors = tokensource.refreshes{outcome="failed" or "reauth"}
//	              + tokensource.invalidations{never_worked=true}
//	Saves         = tokensource.saves{outcome="saved"}
//	SaveErrors    = tokensource.saves{outcome="failed"}
//	Invalidations = tokensource.invalidations
//	TakeOvers     = tokensource.takeovers
//	Logins        = tokensource.logins{outcome="logged_in"}
//	LoginErrors   = tokensource.logins{outcome="failed"}
//
// Resaves, the background saves of a token whose save failed, count in
// tokensource.saves, as every attempt to save does.
//
// A rejection is a response that rejected a request's token: a 401 that a
// [tokensource.Transport] handled, a codes.Unauthenticated that grpcsource
// handled, or any rejection reported with [tokensource.Source.Rejected],
// all counted alike. Its outcome is a [tokensource.RejectionOutcome]:
// "recovered" (sent again with a new token, and not rejected again),
// "rejected" (rejected again), "error" (the retry failed) or "returned"
// (not sent again: see [tokensource.UnauthorizedInfo]).
//
// Every measurement is made with the context of the call it comes from: a
// refresh's, or the request's for invalidations and rejections, so that
// exemplars link to its trace. Callers that get a [tokensource.BackoffError]
// during a backoff start no refresh, and so record nothing.
//
// # The lifetime of series
//
// The gauge reports the Sources observed and still alive: a Source leaves
// it when it is collected, or at once with [Telemetry.Forget]. The counters
// and histograms are the MeterProvider's: with cumulative temporality (the
// SDK's default), it keeps a series for every attribute set ever recorded,
// those of Sources long gone included, until it shuts down. Give Hooks
// attributes of bounded cardinality (an account, not a request), or export
// with delta temporality, under which a series that got no measurement
// since the last export is dropped. The SDK's cardinality limit
// (sdkmetric.WithCardinalityLimit, 2000 series per instrument by default)
// bounds the rest: past it, measurements go to an overflow series.
//
// # Traces
//
// Each refresh is a span named "tokensource.refresh", a child of the span
// of the caller that started it (the caller whose call found the token
// expired, or in its refresh-ahead window). Its events are
// tokensource.store.loaded, tokensource.lock.acquired,
// tokensource.intent.taken_over, tokensource.token.requested,
// tokensource.login.done (with tokensource.login.outcome and
// tokensource.login.duration, in seconds) and tokensource.token.saved; it
// ends with the
// attributes tokensource.refresh.outcome and, for a token that expires,
// tokensource.token.expiry, and with an error status if it failed. A
// rejection adds the event tokensource.rejection to the span of the
// request's context.
//
// No attribute, event or status holds a token value: only reasons,
// outcomes, durations, expiry times and the Source's errors, which quote
// no token either.
package otelsource
