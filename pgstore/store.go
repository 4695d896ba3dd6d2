package pgstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
)

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
// which CreateTable creates. It does no I/O. key may be any string but the
// empty one; each key holds one token, and Stores of one table and key, in
// any process, share it and its lock. New panics if pool is nil or key is
// empty, as for redisstore.
func New(pool *pgxpool.Pool, key string, opts *Options) *Store {
	if pool == nil {
		panic("pgstore: New with a nil pool")
	}
	if key == "" {
		// Also, its lock would be CreateTable's.
		panic("pgstore: New with an empty key")
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
		return nil, &kindError{name: s.name, what: "no token stored", kind: tokensource.ErrNotFound}
	}
	if err != nil {
		return nil, s.errorf("cannot load", err)
	}
	tok, err := tokensource.UnmarshalToken([]byte(data))
	if err != nil {
		// UnmarshalToken's error names its own package and says
		// "stored token": say where instead.
		return nil, &kindError{name: s.name, what: "the stored token is corrupt", kind: tokensource.ErrCorrupt, err: errors.Unwrap(err)}
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
		return s.errorf("cannot save", errors.Unwrap(err)) // the cause, without the package's name
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
// that holds nothing is not an error. A Source with a valid token cached
// keeps serving it until its next load. Do not call it while holding this
// Store's lock: it would wait for itself until ctx ends.
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
