// Package redisstore keeps a tokensource token in Redis, so that the
// replicas of a service, on any number of machines, share one OAuth grant.
//
// A [Store] is a tokensource.Store and a tokensource.Locker. The Sources of
// all replicas refresh one at a time: each first adopts a valid token
// another replica saved; otherwise, under the lock, it reloads the token,
// adopts it if another replica refreshed meanwhile, and otherwise refreshes
// with the refresh token it read and saves the new one before unlocking. A rotated refresh token is then presented once.
//
//	store := redisstore.New(client, "account:42", nil)
//	src := tokensource.FromConfig(ctx, conf, store, nil)
//
// # Keys
//
// A Store made with the key "account:42" uses two Redis keys:
//
//	{account:42}:token  the token, as the JSON tokensource.MarshalToken
//	                    writes (the format of a FileStore's file), with no expiry
//	{account:42}:lock   the lease of Lock: a random owner value, with a TTL
//
// The braces are a hash tag: on Redis Cluster both keys are in one slot, so
// the scripts that read the lease and write the token run there. Any
// redis.UniversalClient works: a single server, Sentinel (the failover
// client), or Cluster.
//
// # The lease and the fence
//
// Lock takes the lease with a script that sets it if it is free, to a
// random owner value, with a TTL of [Options.LockTTL]; if the holder dies,
// the others go on when the TTL ends. The returned unlock deletes the lease
// only if it still holds that owner value, in one script, so a holder whose
// lease expired never releases the next holder's; calling it twice does
// nothing.
//
// While a Lock is held, Save and Delete are fenced: one script writes the
// token only if the lease still holds the Lock's owner value. A holder that
// stalls past its lease (a GC pause, SIGSTOP, a migrated VM) cannot
// overwrite the token the next holder saved: its Save fails with
// [ErrLeaseLost]. Its Source keeps the token in memory, and at its next
// refresh adopts the stored one. A Save without a Lock, such as the one
// after a login, writes unconditionally.
//
// A waiter polls: the wait doubles from 5 ms to 25 ms, jittered, and never
// runs past the end of the holder's lease. It ends when ctx does, if the
// client honours context deadlines (go-redis does with
// ContextTimeoutEnabled set in its options; otherwise a command waits for
// its own timeouts), but for up to 5 s more when Redis fails mid-attempt:
// the lease it may have taken is given back first. An unlock that cannot
// reach Redis takes as long, then leaves the lease to its TTL. A
// notification on unlock (pub/sub) would cut the hand-off from about half
// a poll to a round trip, but a waiter must poll anyway: a lease that
// expires because its holder died publishes nothing, and pub/sub messages
// are lost across a reconnect or a failover. Goroutines of one process
// that share a Store wait in memory, and only one of them polls.
//
// # What remains unsafe
//
// A lease alone is not a lock: a holder that stalls longer than its lease
// wakes up believing it still holds it (the Redlock discussion). Here the
// save is fenced, but the token request is not: the authorization server
// knows nothing of the lease. A holder that stalls past its lease before
// or during its token request may present a refresh token that the next
// holder has already used. With rotation, a server that detects reuse
// then revokes the grant, and every replica gets
// tokensource.ErrReauthRequired; without it, both requests succeed and
// the fence keeps the store consistent. Keep LockTTL longer than the
// Sources' Options.RefreshTimeout plus a save, as [DefaultLockTTL] is for
// the default RefreshTimeout, so that only a stall, not a slow refresh,
// can come to this. A holder can outlast that bound only when saving is
// slow too: a Source gives each save a RefreshTimeout of its own, and
// retries a failed save of a rotated token for 2 s; a save that outlasts
// the lease is refused, and the next holder may then present the spent
// refresh token.
//
// Redis replicates asynchronously: after a failover (Sentinel, Cluster),
// a lease written to the old primary may be missing on the new one, and
// two replicas may refresh at once. The same reuse detection then applies.
package redisstore
