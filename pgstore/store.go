package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
)

// Store keeps the record of one grant, under one key, in a PostgreSQL
// table. It is a [tokensource.Backend]: Get reads the row, Put replaces it
// by compare-and-swap. It is a [tokensource.Leaser] and a
// [tokensource.Locker]: its lease is a session advisory lock on a
// connection of its own (see the package documentation). Load, Save and
// Delete are those of [tokensource.Records]. It is safe for concurrent use.
type Store struct {
	pool  *pgxpool.Pool
	key   string
	where string // table "t" key "k", for errors
	place string // what a sealed record is bound to: the table's name and the key
	opts  Options
	lock  [2]int32
	stmts statements
}

// New returns a Store for the record under key in the table opts names,
// which CreateTable creates. It does no I/O. key may be any string but the
// empty one; each key holds one record, and Stores of one table and key, in
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
	var o Options
	if opts != nil {
		o = *opts
	}
	return &Store{
		pool:  pool,
		key:   key,
		where: fmt.Sprintf("table %s key %q", table, key),
		place: fmt.Sprintf("postgres:%q:%q", tableName(opts), key),
		opts:  o,
		lock:  lockID(tableName(opts), key),
		stmts: newStatements(table),
	}
}

// Where names the Store's table and key in errors, as a Source reports
// them.
func (s *Store) Where() string { return s.where }

// records returns the shared semantics on this Store.
func (s *Store) records() tokensource.Records {
	return tokensource.Records{Backend: s, Where: s.where, Place: s.place,
		Encrypter: s.opts.Encrypter, RequireEncryption: s.opts.RequireEncryption}
}

// Records returns the record semantics of the Store, with its encryption:
// what a [tokensource.Source] on it reads and writes through.
func (s *Store) Records() tokensource.Records { return s.records() }

// Load returns the token stored under the Store's key; see
// [tokensource.Records.Load]. It reads a row written by an earlier version
// of this package too. The error wraps tokensource.ErrNotFound when nothing
// is stored, tokensource.ErrLoggedOut after Delete, and
// tokensource.ErrCorrupt when the row cannot be read back, which is left
// as it is. Errors name the table and key, never a token value.
func (s *Store) Load(ctx context.Context) (*oauth2.Token, error) {
	return s.records().Load(ctx)
}

// Save stores tok as a new grant under the Store's key, replacing what is
// there, by compare-and-swap; see [tokensource.Records.Save]. It refuses a
// token with neither an access token nor a refresh token; a nil token logs
// out, as Delete does. Once it returns nil, the record is committed.
func (s *Store) Save(ctx context.Context, tok *oauth2.Token) error {
	return s.records().Save(ctx, tok)
}

// Delete logs out: it replaces the record with a tombstone (see
// [tokensource.Records.Delete]), after which Load reports
// tokensource.ErrLoggedOut and no Source writes the grant back, whatever
// token it holds: a refresh running elsewhere fails its compare-and-swap.
// It takes no lock. Deleting a key that holds nothing writes a tombstone
// too.
func (s *Store) Delete(ctx context.Context) error {
	return s.records().Delete(ctx)
}

// Get returns the bytes of the token column; see [tokensource.Backend]. It
// runs one statement on the pool.
func (s *Store) Get(ctx context.Context) ([]byte, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, s.stmts.get, s.key).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &tokensource.StoreError{Op: "load", Where: s.where, Err: tokensource.ErrNotFound}
	}
	if err != nil {
		return nil, &tokensource.StoreError{Op: "load", Where: s.where, Err: err}
	}
	return data, nil
}

// Put stores data in the token column if the column still holds prev, byte
// for byte, or, for a nil prev, if the key has no row; see
// [tokensource.Backend]. It runs one statement on the pool: an UPDATE … WHERE
// token = prev, or an INSERT … ON CONFLICT DO NOTHING, and fails with an
// error wrapping tokensource.ErrConflict when it changed no row. It sets
// the expiry column to the expiry of the record's token (NULL for none,
// for a tombstone and for data that is not a record) and updated_at to the
// time of the write.
func (s *Store) Put(ctx context.Context, prev, data []byte) error {
	expiry := recordExpiry(data)
	var (
		n   int64
		err error
	)
	if prev == nil {
		n, err = s.exec(ctx, s.stmts.insert, s.key, string(data), expiry)
	} else {
		n, err = s.exec(ctx, s.stmts.update, s.key, string(data), expiry, string(prev))
	}
	switch {
	case err != nil:
		return &tokensource.StoreError{Op: "save", Where: s.where, Err: err}
	case n != 1:
		return &tokensource.StoreError{Op: "save", Where: s.where, Err: tokensource.ErrConflict}
	}
	return nil
}

// exec runs sql on the pool and returns how many rows it changed.
func (s *Store) exec(ctx context.Context, sql string, args ...any) (int64, error) {
	tag, err := s.pool.Exec(ctx, sql, args...)
	return tag.RowsAffected(), err
}

// recordExpiry returns the expiry of the token of the record data, for the
// expiry column: nil (NULL) when it has none, or data is no record.
func recordExpiry(data []byte) *time.Time {
	rec, err := tokensource.DecodeRecord(data)
	if err != nil || rec.Token == nil || rec.Token.Expiry.IsZero() {
		return nil
	}
	return &rec.Token.Expiry
}
