// Package redisstore keeps a tokensource grant in Redis, so that the
// replicas of a service, on any number of machines, share one OAuth grant.
//
// A [Store] is a tokensource.Store, and a tokensource.Backend: it keeps
// the grant's record (see tokensource.Record) and replaces it only by
// compare-and-swap. It is also a tokensource.Leaser and a
// tokensource.Locker: the Sources of all replicas refresh one at a time,
// each under a lease that it keeps alive while it holds it.
//
//	store := redisstore.New(client, "account:42", nil)
//	src := tokensource.FromConfig(ctx, conf, store, nil)
//
// # Keys
//
// A Store made with the key "account:42" uses two Redis keys:
//
//	{account:42}:token  the record, as tokensource.EncodeRecord writes it
//	                    (the format of every store), with no expiry
//	{account:42}:lock   the lease: a random owner value, with a TTL
//
// A token saved by an earlier version of this package, the JSON of
// tokensource.MarshalToken as a plain string, still loads, as a record of
// generation 0; the next write replaces it with a record. Any
// redis.UniversalClient works: a single server, Sentinel (the failover
// client), or Cluster. Every script touches one key; the braces, a hash
// tag, keep both keys of a grant in one Cluster slot all the same.
//
// # Generations: the record by compare-and-swap
//
// Get reads the record with a GET. Put writes it with a script that sets
// the key only if it still holds, byte for byte, the record the caller
// read (or does not exist, when the caller read nothing), and otherwise
// fails with an error wrapping tokensource.ErrConflict. Every record
// carries a generation that each write increases, and may carry the intent
// of a refresh in flight (which refresh token was sent, when, by whom); a
// Source that reads and writes records through Get and Put cannot
// overwrite a record written since it read its own, by a login, another
// replica's refresh, or a log-out. Load, Save and Delete are those of
// tokensource.Records on the Store: Save writes a new grant over whatever
// is stored, and Delete writes a tombstone, after which Load fails with
// an error wrapping tokensource.ErrLoggedOut and tokensource.ErrNotFound.
// Neither takes the lease.
//
// # Leases kept alive
//
// Lease takes the lease with a script that sets it if it is free, to a
// random owner value, with a TTL of [Options.LockTTL]. While it is held, a
// goroutine renews it every LockTTL/3 with a script that resets the TTL
// only if the key still holds the owner value. When a renewal finds the
// key gone or another owner's, or cannot get an answer from Redis before
// the TTL runs out (measured from when the last successful renewal was
// sent, so never later than Redis's own count), the lease is lost: its
// Lost channel is closed, and [Lease.Err] says why. Another replica may
// hold it then; a Source that sees Lost must not send a token request
// under it. If the holder dies, its renewals stop and the others go on
// when the TTL ends.
//
// Release stops the renewals and deletes the lease, only if it still
// holds the owner value, so a holder whose lease was lost never releases
// the next holder's; it returns at once, and deletes in the background,
// trying again while Redis cannot be reached, and giving up after a few
// seconds ([Lease.Released] says when it is done).
// Lock is Lease for the tokensource.Locker interface; its unlock waits for
// the deletion, so that a process that exits after unlock leaves no lease
// behind.
//
// A waiter polls: the wait doubles from 5 ms to 25 ms, jittered, and never
// runs past the end of the holder's lease. A notification on release
// (pub/sub) would cut the hand-off from about half a poll to a round trip,
// but a waiter must poll anyway: a lease that expires because its holder
// died publishes nothing, and pub/sub messages are lost across a reconnect
// or a failover. Goroutines of one process that share a Store wait in
// memory, and only one of them polls: a Store lets one of its leases be
// held or awaited at a time, from Lease until its Release has finished,
// even after the lease was lost.
//
// # Bounded waits
//
// Every call of a Store returns by its ctx's deadline (a millisecond or
// so later), even against a Redis that accepts connections and never
// answers, whatever the client's options: a command still running when
// ctx ends is abandoned, and goes on in the background until the client's
// own timeouts end it; a lease it may have taken then is given back. Set
// ContextTimeoutEnabled in the client's options so that the command ends
// with its ctx too, and frees its connection. After a Put that ended so,
// it is unknown whether the record was written: read it again.
//
// # What remains unsafe
//
// A lease alone is not a lock: a holder paused longer than its lease (a
// GC pause, SIGSTOP, a migrated VM) wakes up before its next renewal
// believing it still holds it (the Redlock discussion). Its writes of the
// record are safe, being compare-and-swap; a token request it sends in
// that moment is not, as the authorization server knows nothing of the
// lease. The record's intent is what lets a later holder wait for such a
// request's outcome before it presents the same refresh token; that is
// the Source's part, not the Store's.
//
// Redis replicates asynchronously: after a failover (Sentinel, Cluster),
// a lease or a record written to the old primary may be missing on the
// new one, and two replicas may refresh at once. A server that detects
// reuse of a rotated refresh token then revokes the grant.
package redisstore
