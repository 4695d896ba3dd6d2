package redisstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
)

// DefaultLockTTL is the lease of a Lock when Options.LockTTL is 0: the
// Source's [tokensource.DefaultRefreshTimeout], which bounds a refresh, plus 15 seconds
// for the save and the unlock.
const DefaultLockTTL = tokensource.DefaultRefreshTimeout + 15*time.Second

// Options tune a Store. A nil *Options means all defaults.
type Options struct {
	// LockTTL is how long the lease taken by Lock lasts if its holder does
	// not release it: how long the other replicas wait after a holder dies.
	// It must outlast the Options.RefreshTimeout of the Sources using the
	// Store plus a save, or a slow refresh loses its lease and its save is
	// refused (see the package documentation). 0 or less means
	// DefaultLockTTL; it is rounded to a whole millisecond, at least one.
	LockTTL time.Duration
}

// Store is a [tokensource.Store] and [tokensource.Locker] that keeps one token
// in Redis, under a key shared by every process that uses the same grant.
// It is safe for concurrent use. Create it with [New].
type Store struct {
	client   redis.UniversalClient
	tokenKey string // "{key}:token"
	lockKey  string // "{key}:lock"
	ttl      time.Duration

	// turn lets one Lock of this Store hold or wait for the lease at a
	// time, so that the goroutines of one process wait in memory instead
	// of polling Redis side by side. It holds a value while locked.
	turn chan struct{}

	mu    sync.Mutex
	owner string // the owner value of the lease this Store holds, or ""
}

var (
	_ tokensource.Store  = (*Store)(nil)
	_ tokensource.Locker = (*Store)(nil)
)

// New returns a Store that keeps the token of key through client: a
// [*redis.Client], a [*redis.ClusterClient], or the failover client of
// [redis.NewUniversalClient] for Sentinel. The Redis keys are "{key}:token"
// and "{key}:lock" (see the package documentation). New does no I/O. It
// panics if client is nil or key is empty. Set ContextTimeoutEnabled in the
// client's options, so that its commands end with their contexts.
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
	return &Store{
		client:   client,
		tokenKey: tag + ":token",
		lockKey:  tag + ":lock",
		ttl:      ttl.Round(time.Millisecond),
		turn:     make(chan struct{}, 1),
	}
}

// TokenKey returns the Redis key that holds the token, "{key}:token".
func (s *Store) TokenKey() string { return s.tokenKey }

// LockKey returns the Redis key of the lease that Lock takes, "{key}:lock".
func (s *Store) LockKey() string { return s.lockKey }

// Load returns the stored token. The error wraps [tokensource.ErrNotFound]
// when the key does not exist, and [tokensource.ErrCorrupt] when it holds
// something [tokensource.UnmarshalToken] cannot read, which is left as it is.
// Errors name the key and never quote its value.
func (s *Store) Load(ctx context.Context) (*oauth2.Token, error) {
	data, err := s.client.Get(ctx, s.tokenKey).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, &kindError{op: "load", key: s.tokenKey, what: "no token stored", kind: tokensource.ErrNotFound}
	}
	if err != nil {
		return nil, s.errorf("load", s.tokenKey, err)
	}
	tok, err := tokensource.UnmarshalToken(data)
	if err != nil {
		// UnmarshalToken's error names its own package: say the cause
		// in this one's.
		return nil, &kindError{op: "load", key: s.tokenKey, what: "the stored token is corrupt", kind: tokensource.ErrCorrupt, err: errors.Unwrap(err)}
	}
	return tok, nil
}

// Save stores tok as the JSON [tokensource.MarshalToken] writes, with no
// expiry, replacing what was stored. It refuses a token MarshalToken
// refuses (nil, or with neither an access token nor a refresh token).
//
// While a Lock of this Store is held, Save is fenced: it writes only if the
// lease is still this Lock's, and otherwise fails with an error wrapping
// [ErrLeaseLost], leaving the stored token as the lease's next holder wrote
// it. Without a Lock (after a login, say) it writes unconditionally.
func (s *Store) Save(ctx context.Context, tok *oauth2.Token) error {
	data, err := tokensource.MarshalToken(tok)
	if err != nil {
		return s.errorf("save", s.tokenKey, errors.Unwrap(err)) // the cause, without the package's name
	}
	owner := s.heldOwner()
	if owner == "" {
		err = s.client.Set(ctx, s.tokenKey, data, 0).Err()
	} else {
		err = s.fenced(ctx, owner, data)
	}
	if err != nil {
		return s.errorf("save", s.tokenKey, err)
	}
	return nil
}

// Delete removes the stored token, as a log-out: afterwards Load returns
// [tokensource.ErrNotFound] and Sources on the key ask for a new login
// ([tokensource.ErrReauthRequired]). It takes the lock first, so that a
// refresh running in any process ends, and saves, before the token is
// removed, instead of saving it again afterwards. Deleting what is not
// there is not an error. Do not call Delete while holding this Store's
// Lock: it waits for that Lock until ctx ends.
func (s *Store) Delete(ctx context.Context) error {
	unlock, err := s.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := s.fenced(ctx, s.heldOwner(), nil); err != nil {
		return s.errorf("delete", s.tokenKey, err)
	}
	return nil
}

// fenced writes data to the token key, or deletes it when data is nil, if
// the lease still holds owner; otherwise it returns a leaseLost error.
func (s *Store) fenced(ctx context.Context, owner string, data []byte) error {
	args := []any{owner}
	if data != nil {
		args = append(args, data)
	}
	done, err := fencedWrite.Run(ctx, s.client, []string{s.lockKey, s.tokenKey}, args...).Bool()
	if err != nil {
		return err
	}
	if !done {
		return fmt.Errorf("%w: the lease %s expired or another holder took it", ErrLeaseLost, s.lockKey)
	}
	return nil
}

// heldOwner returns the owner value of the lease this Store holds, or "".
func (s *Store) heldOwner() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owner
}

func (s *Store) setOwner(owner string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.owner = owner
}
