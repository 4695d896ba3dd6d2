// Package pgstore keeps tokensource tokens in PostgreSQL, for replicas that
// share one OAuth grant. A [Store] is a [tokensource.Store] and a
// [tokensource.Locker]: its lock makes the processes refresh one at a time,
// so that a rotating refresh token is used once.
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
//		token      text NOT NULL,      -- the JSON of tokensource.MarshalToken
//		expiry     timestamptz,        -- the token's expiry; NULL: none
//		updated_at timestamptz NOT NULL DEFAULT now()
//	)
//
// token is what Load reads: the JSON a [tokensource.FileStore] file holds,
// byte for byte, which other languages read too (token::jsonb in SQL). It
// is text, not jsonb, so that it comes back exactly as written (the expiry
// to the nanosecond) and no token content is refused (jsonb rejects
// \u0000). expiry is a copy, to the microsecond, for queries.
//
// # The lock
//
// [Store.Lock] takes a session-level advisory lock, pg_advisory_lock(k1, k2),
// on a connection it keeps from the pool until unlock. k1 and k2 are the
// high and low halves of the 64-bit FNV-1a hash of the table name, a zero
// byte and the key, so that other programs can take the same lock. Keys
// whose hashes collide only take turns.
//
// A row lock (SELECT … FOR UPDATE) in an open transaction also ends with its
// holder, and works through a pooler in transaction mode. It was not
// chosen because the holder's save must then run in that transaction (on
// another connection it would wait for the lock), where it is committed
// only at unlock, which cannot report a failure: the Source would count as
// saved a rotated refresh token that was lost. Under a session lock each
// save commits on its own, while the lock holds. The advisory lock also
// needs no row, so a key's first login is serialized too.
//
// The price is a session of its own while the lock is held: behind a
// pooler in transaction mode (PgBouncer's pool_mode = transaction), lock
// and unlock can run on different server sessions, and a lock can stay
// behind on one. Connect directly, or through session pooling. A save made
// under the lock refuses to write when its session does not hold the lock,
// which makes such a setup fail loudly, but not on every refresh.
//
// While a Store holds its lock, its Load, Save and Delete run on the lock's
// connection. A holder thus never waits for a second connection, which the
// waiters could have taken from a small pool; and a save lands only while
// the lock holds: if the lock's session has ended, Save fails rather than
// overwrite what the next holder saved.
//
// Each waiting Lock holds a pool connection, for at most the Source's
// RefreshTimeout. When many accounts may refresh at once, give the stores a
// pool of their own, so that waiting refreshes do not starve the rest of
// the program.
//
// # What remains unsafe
//
// A holder that stalls (a stopped process, a paused VM) keeps its session,
// and with it the lock, for as long as the stall lasts: the kernel still
// responds for its connection, so PostgreSQL never ends the session. The
// others wait; their refreshes fail at their RefreshTimeout and back off,
// and once their tokens expire their requests fail, until the holder
// resumes or dies. They never reuse its refresh token. idle_session_timeout
// (PostgreSQL 14 and later), set for the role the stores use, bounds such a
// stall, but a refresh slower than it loses the lock: its save is then
// refused, and the next holder refreshes with a spent refresh token.
// Likewise, a lock_timeout or statement_timeout of the role bounds how long
// Lock can wait.
//
// A holder whose host crashes, or that a network partition cuts off,
// keeps the lock until PostgreSQL notices that its connection is gone: by
// TCP keepalive, after about two hours by default. Set
// tcp_keepalives_idle, tcp_keepalives_interval and tcp_keepalives_count
// (for the role, or in the pool's ConnConfig.RuntimeParams) to bound it.
//
// A holder that dies after the server rotated the refresh token, before
// saving the new one, takes it along: the next refresh presents the spent
// one, and fails with [tokensource.ErrReauthRequired] (a server that detects
// reuse also revokes the grant). No store can prevent that; the lock makes
// sure it is never a silent reuse.
//
// The lock is advisory: a program that writes the table without it is not
// excluded. Locks are not replicated: after a failover, holders on the old
// primary lose theirs, and their saves fail.
package pgstore
