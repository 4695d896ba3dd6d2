package pgstore

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// releaseTimeout bounds the statement that releases the lock, and the
// closing of a connection; past it, the connection is dropped, which ends
// its session and the lock with it.
const releaseTimeout = 5 * time.Second

// held is a lock a Store holds: the pool connection whose session holds it.
type held struct {
	mu   sync.Mutex    // one statement at a time on conn
	conn *pgxpool.Conn // nil once released
}

// Lock takes the Store's lock, a session-level advisory lock on a
// connection taken from the pool and kept until unlock. It excludes every
// other Lock on the same table name and key, in any process, through any
// Store. It waits for the connection and the lock no longer than ctx; its
// error then names the table and key and wraps ctx's error. When Lock fails,
// the lock is not held: a connection whose wait failed is closed, not
// returned to the pool, since the lock may have been granted just as ctx
// ended.
//
// PostgreSQL releases the lock when its session ends, so a holder that dies
// does not block the others: its connection closes, and the next waiter
// gets the lock at once. A holder that stalls holds it until it resumes or
// its connection ends; see the package documentation.
//
// unlock releases the lock and returns the connection to the pool. Calling
// it more than once is harmless. If the release fails (the connection died,
// the server went away), unlock closes the connection: the lock ends with
// its session.
func (s *Store) Lock(ctx context.Context) (unlock func(), err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, s.errorf("cannot lock", err)
	}
	if _, err := conn.Exec(ctx, lockSQL, s.lock[0], s.lock[1]); err != nil {
		// Whether the server granted the lock before the wait failed
		// cannot be told here; ending the session settles it.
		discard(conn)
		return nil, s.errorf("cannot lock", err)
	}
	h := &held{conn: conn}
	s.mu.Lock()
	s.held = h
	s.mu.Unlock()
	return sync.OnceFunc(func() { s.unlock(h) }), nil
}

// unlock releases h, which Lock returned.
func (s *Store) unlock(h *held) {
	// Forget h before the lock is released: the next holder may be
	// this Store, and must find its own.
	s.mu.Lock()
	if s.held == h {
		s.held = nil
	}
	s.mu.Unlock()
	h.mu.Lock()
	conn := h.conn
	h.conn = nil
	h.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	var released bool
	if err := conn.QueryRow(ctx, unlockSQL, s.lock[0], s.lock[1]).Scan(&released); err != nil || !released {
		discard(conn)
		return
	}
	conn.Release()
}

// discard closes conn, ending its session and any lock it holds, and gives
// it back to the pool, which drops it.
func discard(conn *pgxpool.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	conn.Conn().Close(ctx)
	conn.Release()
}

// lockID returns the two keys of the advisory lock of key in table: the
// high and low halves of the 64-bit FNV-1a hash of the table name, a zero
// byte and the key. The schema is left out, so that every spelling of one
// table locks alike.
func lockID(table, key string) [2]int32 {
	h := fnv.New64a()
	h.Write([]byte(table))
	h.Write([]byte{0})
	h.Write([]byte(key))
	v := h.Sum64()
	return [2]int32{int32(v >> 32), int32(v)}
}

// querier runs statements: the pool, or the connection that holds the lock.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// run calls f with the connection that holds the Store's lock, if it holds
// it, and otherwise with the pool. Holders thus never wait for a second
// connection, which lock waiters may have taken from a small pool.
func (s *Store) run(f func(q querier, locked bool) error) error {
	s.mu.Lock()
	h := s.held
	s.mu.Unlock()
	if h == nil {
		return f(s.pool, false)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.conn == nil: // unlocked meanwhile
		return f(s.pool, false)
	case h.conn.Conn().IsClosed():
		return errLockLost
	}
	return f(h.conn, true)
}

var (
	errLockLost = errors.New("the connection holding the lock is closed, and the lock with it")
	errNotHeld  = errors.New("the lock's session no longer holds the lock (is a pooler in transaction mode in between?)")
)
