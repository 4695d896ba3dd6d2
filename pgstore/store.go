package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
)

// DefaultTable is the table a Store uses when Options.Table is empty.
const DefaultTable = "tokensource_tokens"

// Options name the table of a Store. A nil *Options means all defaults.
type Options struct {
	// Schema is the table's schema; "" means the first schema of the
	// search_path that has the table (CreateTable: the first one that
	// exists). Stores that differ only in how they name the schema share
	// their locks, so they never fail to exclude each other.
	Schema string

	// Table is the table's name, used as it is (quoted, case kept); ""
	// means DefaultTable.
	Table string
}

// ident returns the quoted, schema-qualified name of the table.
func (o *Options) ident() string {
	if o == nil {
		o = &Options{}
	}
	id := pgx.Identifier{tableName(o)}
	if o.Schema != "" {
		id = append(pgx.Identifier{o.Schema}, id...)
	}
	return id.Sanitize()
}

// tableName returns the table's name, without its schema.
func tableName(o *Options) string {
	if o == nil || o.Table == "" {
		return DefaultTable
	}
	return o.Table
}

// Store is a tokensource.Store and tokensource.Locker that keeps one token,
// under one key, in a PostgreSQL table. It is safe for concurrent use.
//
// While a Store holds its lock, its Load, Save and Delete run on the lock's
// connection; see the package documentation for why.
type Store struct {
	pool  *pgxpool.Pool
	key   string
	name  string // table "t" key "k", for errors
	lock  [2]int32
	stmts statements

	mu   sync.Mutex
	held *held // the lock this Store holds, or nil
}

// New returns a Store for the token under key in the table opts names,
// which CreateTable creates. It does no I/O. key may be any string; each
// key holds one token. New panics if pool is nil.
func New(pool *pgxpool.Pool, key string, opts *Options) *Store {
	if pool == nil {
		panic("pgstore: New with a nil pool")
	}
	table := opts.ident()
	return &Store{
		pool:  pool,
		key:   key,
		name:  fmt.Sprintf("table %s key %q", table, key),
		lock:  lockID(tableName(opts), key),
		stmts: newStatements(table),
	}
}

// Load returns the token stored under the Store's key. It returns an error
// wrapping tokensource.ErrNotFound when there is none, and one wrapping
// tokensource.ErrCorrupt when the stored JSON cannot be read back; the row
// is left as it is. Errors name the table and key, never a token value.
func (s *Store) Load(ctx context.Context) (*oauth2.Token, error) {
	var data string
	err := s.run(func(q querier, _ bool) error {
		return q.QueryRow(ctx, s.stmts.load, s.key).Scan(&data)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("%w in %s", tokensource.ErrNotFound, s.name)
	}
	if err != nil {
		return nil, s.errorf("cannot load", err)
	}
	tok, err := tokensource.UnmarshalToken([]byte(data))
	if err != nil {
		// UnmarshalToken's error names its own package and says
		// "stored token": say where instead.
		return nil, &corruptError{name: s.name, err: cmp.Or(errors.Unwrap(err), err)}
	}
	return tok, nil
}

// Save stores tok under the Store's key, replacing what was there, as the
// JSON tokensource.MarshalToken writes, and its expiry in the expiry column
// (NULL for none). It refuses a nil token and one with neither an access
// token nor a refresh token. Once it returns nil, the token is committed.
//
// While the Store holds its lock, the write lands only if the lock's
// session still holds the lock; if it does not, Save fails and the stored
// token is left as it is (see the package documentation). Errors name the
// table and key, never a token value.
func (s *Store) Save(ctx context.Context, tok *oauth2.Token) error {
	data, err := tokensource.MarshalToken(tok)
	if err != nil {
		return s.errorf("cannot save", err)
	}
	var expiry *time.Time // NULL for a token that does not expire
	if !tok.Expiry.IsZero() {
		expiry = &tok.Expiry
	}
	err = s.run(func(q querier, locked bool) error {
		if !locked {
			_, err := q.Exec(ctx, s.stmts.save, s.key, string(data), expiry)
			return err
		}
		tag, err := q.Exec(ctx, s.stmts.saveLocked, s.key, string(data), expiry, s.lock[0], s.lock[1])
		if err == nil && tag.RowsAffected() != 1 {
			err = errNotHeld
		}
		return err
	})
	if err != nil {
		return s.errorf("cannot save", err)
	}
	return nil
}

// Delete removes the token stored under the Store's key, under the lock, so
// that a refresh running in another process cannot save it back: this is
// how to log out. It waits for the lock no longer than ctx. Deleting a key
// that holds nothing is not an error.
func (s *Store) Delete(ctx context.Context) error {
	unlock, err := s.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	err = s.run(func(q querier, _ bool) error {
		_, err := q.Exec(ctx, s.stmts.del, s.key)
		return err
	})
	if err != nil {
		return s.errorf("cannot delete", err)
	}
	return nil
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

// errorf returns an error that says what failed on which table and key.
func (s *Store) errorf(what string, err error) error {
	return fmt.Errorf("pgstore: %s: %s: %w", s.name, what, err)
}

// corruptError is the error of a token that cannot be read back.
type corruptError struct {
	name string
	err  error
}

func (e *corruptError) Error() string {
	return "pgstore: " + e.name + ": the stored token is corrupt: " + e.err.Error()
}
func (e *corruptError) Unwrap() error        { return e.err }
func (e *corruptError) Is(target error) bool { return target == tokensource.ErrCorrupt }
