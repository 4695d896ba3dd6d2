package keyringstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
)

// Options tune a Store. A nil *Options means all defaults.
type Options struct {
	// LockPath is the file that Lock locks; Put locks a second one beside
	// it, LockPath plus ".put", and notes the chunks it may leave in a
	// third, LockPath plus ".put.chunks" (see the package documentation).
	// "" means a file in the user's cache
	// directory (os.UserCacheDir), tokensource/keyring-<hash>.lock, where
	// the hash is of the service and the user: every process of the user
	// that keeps the same service and user finds the same file. The
	// directory is created, with mode 0700, at the first lock.
	LockPath string

	// ChunkSize is the longest value the Store writes to one keyring item,
	// in bytes (but for the index of a record in chunks, some 130 bytes
	// long, or of an empty record): a record whose index would be longer is split into
	// chunks of at most ChunkSize bytes each, base64 of at most
	// ChunkSize/4*3 bytes of the record. 0 or less means 2,000 on Windows
	// (whose Credential Manager keeps at most 2,560 bytes) and macOS
	// (whose Keychain tool takes a command of at most 4,096 bytes,
	// holding the value in base64 again, with the service and the user),
	// and 16 KiB elsewhere; a value from 1 to 3 means 4. A record needs at
	// most 1,024 chunks: a Put of a larger one fails. Stores of one
	// service and user read each other's records whatever their
	// ChunkSize.
	ChunkSize int

	// Encrypter, when not nil, encrypts the record, bound to the service
	// and user, so that what the keyring holds, and what a program that
	// can read the keyring sees, reveals no token (see
	// [tokensource.Records].Encrypter). A record written in plain text
	// still loads, and is encrypted at its next write, unless
	// RequireEncryption.
	Encrypter tokensource.Encrypter

	// RequireEncryption makes a record in plain text corrupt: Load fails
	// with an error wrapping [tokensource.ErrCorrupt].
	RequireEncryption bool
}

// Store keeps the record of one grant in the keyring of the OS, under a
// service and a user, for the processes of one user on one machine. It is
// a [tokensource.Store], a [tokensource.Backend] (Get and Put read and
// replace the record, Put by compare-and-swap under a file lock), and a
// [tokensource.Locker] (a file lock). It is safe for concurrent use, by
// goroutines and by processes. Create it with [New].
type Store struct {
	service, user string
	chunkSize     int
	lockPath      string // "" when lockErr says why there is none
	lockErr       error
	kr            provider
	records       tokensource.Records

	// turn lets one Put (or repair) of this Store hold the put lock or
	// wait for it at a time, so that its goroutines wait in memory
	// instead of polling the file side by side. It holds a value from
	// before the file lock is taken until after it is released.
	turn chan struct{}
}

var (
	_ tokensource.Store   = (*Store)(nil)
	_ tokensource.Backend = (*Store)(nil)
	_ tokensource.Locker  = (*Store)(nil)
)

// New returns a Store that keeps its record in the keyring items of
// service: the one named user (the record's index) and, for a record too
// large for one item, chunks named user.<id>.<n> (see the package
// documentation). Every process that uses the grant names the same
// service and user; the service is usually the program's name, the user
// the account. New does no I/O: a missing keyring shows at the first
// call, as an error wrapping [ErrNoKeyring]. It panics if service or
// user is empty.
func New(service, user string, opts *Options) *Store {
	if service == "" {
		panic("keyringstore: New with an empty service")
	}
	if user == "" {
		panic("keyringstore: New with an empty user")
	}
	if opts == nil {
		opts = &Options{}
	}
	s := &Store{
		service:   service,
		user:      user,
		chunkSize: opts.ChunkSize,
		lockPath:  opts.LockPath,
		kr:        osKeyring{},
		turn:      make(chan struct{}, 1),
	}
	switch {
	case s.chunkSize <= 0:
		s.chunkSize = defaultChunkSize()
	case s.chunkSize < minChunkSize:
		s.chunkSize = minChunkSize
	}
	if s.lockPath == "" {
		s.lockPath, s.lockErr = defaultLockPath(service, user)
	}
	s.records = tokensource.Records{
		Backend:           s,
		Where:             fmt.Sprintf("keyring service %q user %q", service, user),
		Place:             "keyring:" + strconv.Quote(service) + ":" + strconv.Quote(user),
		Encrypter:         opts.Encrypter,
		RequireEncryption: opts.RequireEncryption,
	}
	return s
}

// Service returns the keyring service the Store was created with.
func (s *Store) Service() string { return s.service }

// User returns the keyring user the Store was created with: the item that
// holds the record's index.
func (s *Store) User() string { return s.user }

// LockPath returns the file Lock locks, or "" when the Store has none:
// Options.LockPath was empty and the user has no cache directory. Then
// Lock, Put, Save and Delete fail, saying so; Get and Load work.
func (s *Store) LockPath() string { return s.lockPath }

// Where names the Store in errors, as a Source reports them: keyring
// service "x" user "y".
func (s *Store) Where() string { return s.records.Where }

// Records returns the record semantics of the Store, with its encryption:
// what a [tokensource.Source] on it reads and writes through. A sealed
// record is bound to the service and the user.
func (s *Store) Records() tokensource.Records { return s.records }

// Load returns the stored token; see [tokensource.Records.Load]. The error
// wraps [tokensource.ErrNotFound] when the keyring has no record,
// [tokensource.ErrLoggedOut] (which wraps ErrNotFound) after Delete,
// [tokensource.ErrCorrupt] when the record cannot be read back (chunks
// missing or not matching their index, or bytes that are not a record),
// which is left as it is, and [ErrNoKeyring] when there is no keyring.
// It returns by ctx's deadline even when the keyring does not answer.
// Errors are [*tokensource.StoreError]s that name the service and user
// and never quote a stored value.
func (s *Store) Load(ctx context.Context) (*oauth2.Token, error) {
	return s.records.Load(ctx)
}

// Save stores tok as a new grant, replacing what is stored with the next
// generation of the record, by compare-and-swap; see
// [tokensource.Records.Save]. It refuses a nil token, and one with neither
// an access token nor a refresh token. A corrupt
// record is replaced, whether its bytes are not a record or its chunks
// are missing. If the write fails, the previous record is left, readable.
func (s *Store) Save(ctx context.Context, tok *oauth2.Token) error {
	return s.repairing(ctx, "save", func() error { return s.records.Save(ctx, tok) })
}

// Delete logs out: it replaces the record with a tombstone, by
// compare-and-swap, after which Load returns an error wrapping
// [tokensource.ErrLoggedOut] and [tokensource.ErrNotFound] until the next
// Save; see [tokensource.Records.Delete]. The tombstone is small: the
// chunks of the token's record are deleted. Deleting when nothing is
// stored writes a tombstone too. It does not take Lock.
func (s *Store) Delete(ctx context.Context) error {
	return s.repairing(ctx, "delete", func() error { return s.records.Delete(ctx) })
}

// repairing runs op, a Save or a Delete (name). If it fails on a damaged record,
// whose chunks are missing or do not match their index, which
// tokensource.Records cannot replace since Get cannot return its bytes,
// it removes the damaged index, if the keyring still holds it, and runs
// op again, on nothing stored.
func (s *Store) repairing(ctx context.Context, name string, op func() error) error {
	err := op()
	var d *damaged
	if !errors.As(err, &d) {
		return err
	}
	if err := s.drop(ctx, name, d.index); err != nil {
		return err
	}
	return op()
}

// fail returns err as the error of op on the Store.
func (s *Store) fail(op string, err error) error {
	return &tokensource.StoreError{Op: op, Where: s.records.Where, Err: err}
}
