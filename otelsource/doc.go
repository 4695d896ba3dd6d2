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
// # Metrics
//
// Every metric carries the attributes given to Hooks (or Observe), and:
//
//	tokensource.refreshes                   counter {refresh}  tokensource.refresh.reason, tokensource.refresh.outcome
//	tokensource.refresh.duration            histogram s        tokensource.refresh.reason, tokensource.refresh.outcome
//	tokensource.lock.wait_time              histogram s        (each refresh that got the store's lock)
//	tokensource.saves                       counter {save}     tokensource.save.outcome: saved, failed
//	tokensource.invalidations               counter {invalidation}  tokensource.invalidation.never_worked
//	tokensource.rejections                  counter {response} tokensource.rejection.outcome (the 401s of a tokensource.Transport; grpcsource reports none)
//	tokensource.token.remaining_lifetime    gauge s            (Sources passed to Observe)
//
// The reasons and outcomes are those of [tokensource.RefreshReason] and
// [tokensource.RefreshOutcome]: an adoption is a refresh with outcome
// "adopted". They add up to a Source's Stats as [tokensource.Hooks] says:
//
//	Refreshes     = tokensource.refreshes{outcome="refreshed"}
//	Adopted       = tokensource.refreshes{outcome="adopted"}
//	RefreshErrors = tokensource.refreshes{outcome="failed" or "reauth"}
//	              + tokensource.invalidations{never_worked=true}
//	Saves         = tokensource.saves{outcome="saved"}
//	SaveErrors    = tokensource.saves{outcome="failed"}
//	Invalidations = tokensource.invalidations
//
// A rejection is a response that rejected a request's token, as a
// [tokensource.Transport] handled it; its outcome is "recovered" (sent
// again with a new token, and not rejected again), "rejected" (rejected
// again), "error" (the retry failed) or "returned" (not sent again: see
// [tokensource.UnauthorizedInfo]).
//
// # Traces
//
// Each refresh is a span named "tokensource.refresh", a child of the span
// of the caller that started it (the caller whose call found the token
// expired, or in its refresh-ahead window). Its events are
// tokensource.store.loaded, tokensource.lock.acquired,
// tokensource.token.requested and tokensource.token.saved; it ends with the
// attributes tokensource.refresh.outcome and, for a token that expires,
// tokensource.token.expiry, and with an error status if it failed. A
// rejection adds the event tokensource.rejection to the span of the
// request's context.
//
// No attribute, event or status holds a token value: only reasons,
// outcomes, durations, expiry times and the Source's errors, which quote
// no token either.
package otelsource
