// Package pgstore keeps tokensource records in PostgreSQL, for replicas that
// share one OAuth grant. A [Store] is a [tokensource.Backend]: one row per
// key, replaced by compare-and-swap, so that a Source never overwrites a
// record it did not read (a newer token, a login, a log-out). It is also a
// [tokensource.Leaser] and a [tokensource.Locker]: its lease lets the
// processes refresh one at a time, so that a rotating refresh token is sent
// once.
//
//	pool, err := pgxpool.New(ctx, databaseURL)
//	if err != nil { ... }
//	if err := pgstore.CreateTable(ctx, pool, nil); err != nil { ... }
//	src := tokensource.FromConfig(ctx, conf, pgstore.New(pool, accountID, nil), nil)
//
// # Schema
//
// One row per key, in the table [Options] name ([DefaultTable] unless set):
//
//	CREATE TABLE IF NOT EXISTS tokensource_tokens (
//		key        text PRIMARY KEY,
//		token      text NOT NULL,      -- the record of tokensource.EncodeRecord
//		expiry     timestamptz,        -- its token's expiry; NULL: none, or a tombstone
//		updated_at timestamptz NOT NULL DEFAULT now()
//	)
//
// The schema is the one earlier versions of this package created: no
// migration is needed. token holds the record every store of tokensource
// writes ([tokensource.EncodeRecord]): the JSON object of
// [tokensource.MarshalToken], which other languages read as a token
// (token::jsonb in SQL), with the record's generation, intent and
// tombstone beside the token's fields. A row written by an earlier
// version, a plain MarshalToken JSON, still loads, as a record of
// generation 0. token is text, not jsonb, so that it comes back exactly as
// written, byte for byte, which the compare-and-swap needs, and no content
// is refused (jsonb rejects \u0000). expiry is a copy, to the microsecond,
// for queries; updated_at is the time of the last write.
//
// # Reads and writes
//
// Get and Put each run one statement on the pool, and return by their
// context's deadline: Get is SELECT token; Put is
//
//	UPDATE … SET token = $new, … WHERE key = $key AND token = $prev
//
// or, when nothing was stored, INSERT … ON CONFLICT (key) DO NOTHING. A Put
// that changes no row fails with an error wrapping [tokensource.ErrConflict].
// This is what fences a holder whose lease was lost: its write lands only
// if the record is still the one it read. Load, Save and Delete are those
// of [tokensource.Records]; Delete writes a tombstone, so that no Source
// writes the grant back. Errors are [tokensource.StoreError]s that name the
// table and key, never a token value.
//
// # The lease
//
// [Store.Lease] takes a session-level advisory lock,
// pg_advisory_lock(k1, k2), where k1 and k2 are the high and low halves of
// the 64-bit FNV-1a hash of the table name, a zero byte and the key, so
// that other programs can take the same lock. Keys whose hashes collide
// only take turns. The lock needs no row, so a key's first login is
// serialized too.
//
// Each lease opens a connection of its own, with the pool's configuration
// (its BeforeConnect and AfterConnect hooks included), and closes it on
// Release, in the background: no connection of the application's pool is
// held while a lease is awaited or held. The price is a connection setup
// per refresh.
//
// A lock is only worth its release when its holder dies. On the lease's
// session, the Store sets, where the server has them (PostgreSQL 12 and
// 14):
//
//	tcp_keepalives_idle = 5, tcp_keepalives_interval = 5, tcp_keepalives_count = 3
//	tcp_user_timeout = 20000                  (ms)
//	idle_session_timeout = 20000              (ms)
//	client_connection_check_interval = 5000   (ms)
//
// and keepalive with the same timing on its end of the connection. While
// the lease is held, a watchdog waits on the connection and pings the
// session every 3 seconds; the lease is lost, and Lost closed, when the
// session ends or a ping goes unanswered for 5 seconds. So the server
// frees the lock of a holder that died, was cut off by the network, or was
// stopped (SIGSTOP, a paused VM) within about 20 seconds, and the holder
// learns it lost the lease before that. Measured: a holder whose link was
// taken down (TestPartitionedHolderLosesTheLock) saw its lease lost after
// 8 s, and another process got the lock after 20 s; a stopped holder
// (TestStoppedHolderLosesTheLock) lost the lock after 20 s, and saw it
// lost when it resumed; a holder whose session was terminated
// (pg_terminate_backend) saw its lease lost within milliseconds. A holder that dies outright closes its connection, and the
// next waiter gets the lock at once.
//
// The alternative, a lease row with an expiry renewed by a heartbeat (as
// cirello-io/pglock does), frees the lock after the same kind of delay but
// needs a schema change and makes waiters poll; the advisory lock wakes the
// next waiter as soon as the lock is freed.
//
// The session lock needs a session of its own: behind a pooler in
// transaction mode (PgBouncer's pool_mode = transaction), the lock and the
// pings can run on different server sessions, and a lock can stay behind
// on one. Connect directly, or through session pooling. A lock_timeout or
// statement_timeout of the role bounds how long Lease can wait.
//
// # What remains unsafe
//
// A holder that dies after the server rotated the refresh token, before
// saving the new one, takes it along: the next refresh presents the spent
// one, and fails with [tokensource.ErrReauthRequired] (a server that detects
// reuse also revokes the grant). No store can prevent that; an intent
// recorded before the request ([tokensource.Intent]) lets the others wait
// for a while before presenting it.
//
// The lock is advisory: a program that writes the table without it is not
// excluded, though its writes, by compare-and-swap, overwrite nothing they
// did not read. Locks are not replicated: after a failover, holders on the
// old primary lose their sessions, and with them their leases.
package pgstore
