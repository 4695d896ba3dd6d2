package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
)

// DefaultLockTTL is the lease of a Lock when Options.LockTTL is 0: the
// Source's [tokensource.DefaultRefreshTimeout], which bounds a refresh,
// plus 15 seconds for the save and the unlock. A held lease is renewed, so
// it is how long the other replicas wait after a holder dies, not a bound
// on how long a holder may keep it.
const DefaultLockTTL = tokensource.DefaultRefreshTimeout + 15*time.Second

// Options tune a Store. A nil *Options means all defaults.
type Options struct {
	// LockTTL is how long a lease taken by Lease or Lock lasts unless its
	// holder renews it, which it does every LockTTL/3 while it holds it:
	// how long the other replicas wait after a holder dies or loses its
	// link to Redis. 0 or less means DefaultLockTTL; it is rounded to a
	// whole millisecond, at least one.
	LockTTL time.Duration

	// Encrypter, when not nil, encrypts the record, bound to its key, so
	// that the Redis value, an RDB or AOF file or a replica reveals no
	// token (see [tokensource.Records].Encrypter). A value written in
	// plain text still loads, and is encrypted at its next write, unless
	// RequireEncryption.
	Encrypter tokensource.Encrypter

	// RequireEncryption makes a value in plain text corrupt: Load fails
	// with an error wrapping [tokensource.ErrCorrupt].
	RequireEncryption bool
}

// Store keeps the record of one grant in Redis, under a key shared by
// every process that uses the grant. It is a [tokensource.Store], a
// [tokensource.Backend] (its Get and Put read and replace the record by
// compare-and-swap), a [tokensource.Leaser] and a [tokensource.Locker]. It
// is safe for concurrent use. Create it with [New].
type Store struct {
	client   redis.UniversalClient
	tokenKey string // "{key}:token"
	lockKey  string // "{key}:lock"
	ttl      time.Duration
	records  tokensource.Records

	// turn lets one lease of this Store be held or awaited at a time, so
	// that the goroutines of one process wait in memory instead of
	// polling Redis side by side. It holds a value from the start of Lease
	// until its lease has been released.
	turn chan struct{}
}

var (
	_ tokensource.Store   = (*Store)(nil)
	_ tokensource.Backend = (*Store)(nil)
	_ tokensource.Leaser  = (*Store)(nil)
	_ tokensource.Locker  = (*Store)(nil)
)

// New returns a Store that keeps the record of key through client: a
// [*redis.Client], a [*redis.ClusterClient], or the failover client of
// [redis.NewUniversalClient] for Sentinel. The Redis keys are "{key}:token"
// and "{key}:lock" (see the package documentation). New does no I/O. It
// panics if client is nil or key is empty.
//
// Every call of the Store returns by its ctx's deadline, whatever the
// client's options. Set ContextTimeoutEnabled in them too: then a command
// that runs out of time ends with its ctx, instead of going on in the
// background until the client's ReadTimeout, holding a connection.
func New(client redis.UniversalClient, key string, opts *Options) *Store {
	if client == nil {
		panic("redisstore: New with a nil client")
	}
	if key == "" {
		panic("redisstore: New with an empty key")
	}
	ttl := DefaultLockTTL
	if opts != nil && opts.LockTTL > 0 {
		ttl = max(opts.LockTTL, time.Millisecond)
	}
	tag := "{" + key + "}"
	s := &Store{
		client:   client,
		tokenKey: tag + ":token",
		lockKey:  tag + ":lock",
		ttl:      ttl.Round(time.Millisecond),
		turn:     make(chan struct{}, 1),
	}
	s.records = tokensource.Records{Backend: s, Where: where(s.tokenKey), Place: "redis:" + s.tokenKey}
	if opts != nil {
		s.records.Encrypter, s.records.RequireEncryption = opts.Encrypter, opts.RequireEncryption
	}
	return s
}

// Records returns the record semantics of the Store, with its encryption:
// what a [tokensource.Source] on it reads and writes through.
func (s *Store) Records() tokensource.Records { return s.records }

// where names a Redis key in errors.
func where(key string) string { return fmt.Sprintf("redis key %q", key) }

// TokenKey returns the Redis key that holds the record, "{key}:token".
func (s *Store) TokenKey() string { return s.tokenKey }

// Where names the Store's token key in errors, as a Source reports them.
func (s *Store) Where() string { return s.records.Where }

// LockKey returns the Redis key of the lease, "{key}:lock".
func (s *Store) LockKey() string { return s.lockKey }

// Load returns the stored token; see [tokensource.Records.Load]. The error
// wraps [tokensource.ErrNotFound] when the key does not exist,
// [tokensource.ErrLoggedOut] (which wraps ErrNotFound) after Delete, and
// [tokensource.ErrCorrupt] when the key holds something that is not a
// record, which is left as it is. A token saved by an earlier version of
// this package, the JSON of [tokensource.MarshalToken], loads. Errors are
// [*tokensource.StoreError]s that name the key and never quote its value.
func (s *Store) Load(ctx context.Context) (*oauth2.Token, error) {
	return s.records.Load(ctx)
}

// Save stores tok as a new grant, replacing what is stored with the next
// generation of the record, by compare-and-swap; see
// [tokensource.Records.Save]. It refuses a token with neither an access
// token nor a refresh token; a nil tok logs out, as Delete does.
func (s *Store) Save(ctx context.Context, tok *oauth2.Token) error {
	return s.records.Save(ctx, tok)
}

// Delete logs out: it replaces the record with a tombstone, by
// compare-and-swap, after which Load returns an error wrapping
// [tokensource.ErrLoggedOut] and [tokensource.ErrNotFound] until the next
// Save; see [tokensource.Records.Delete]. Deleting an empty key writes a
// tombstone too. It takes no lease.
func (s *Store) Delete(ctx context.Context) error {
	return s.records.Delete(ctx)
}

// Get returns the bytes of the stored record: one GET of TokenKey. The
// error wraps [tokensource.ErrNotFound] when the key does not exist. See
// [tokensource.Backend].
func (s *Store) Get(ctx context.Context) ([]byte, error) {
	data, err := call(ctx, func(ctx context.Context) ([]byte, error) {
		return s.client.Get(ctx, s.tokenKey).Bytes()
	}, nil)
	switch {
	case errors.Is(err, redis.Nil):
		return nil, &tokensource.StoreError{Op: "load", Where: s.records.Where, Err: tokensource.ErrNotFound}
	case err != nil:
		return nil, &tokensource.StoreError{Op: "load", Where: s.records.Where, Err: err}
	}
	return data, nil
}

// Put stores data under TokenKey, with no expiry, if the key still holds
// prev byte for byte, or does not exist when prev is nil: one script,
// which Redis runs atomically. Otherwise it writes nothing and returns an
// error wrapping [tokensource.ErrConflict]. See [tokensource.Backend].
//
// An error other than a conflict, a timeout say, leaves it unknown whether
// data was written: read the record again.
func (s *Store) Put(ctx context.Context, prev, data []byte) error {
	expect := "1"
	if prev == nil {
		expect = "0"
	}
	written, err := call(ctx, func(ctx context.Context) (int64, error) {
		return putRecord.Run(ctx, s.client, []string{s.tokenKey}, expect, prev, data).Int64()
	}, nil)
	switch {
	case err != nil:
		return &tokensource.StoreError{Op: "save", Where: s.records.Where, Err: err}
	case written != 1:
		return &tokensource.StoreError{Op: "save", Where: s.records.Where, Err: tokensource.ErrConflict}
	}
	return nil
}
