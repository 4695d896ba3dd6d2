package keyringstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/oauthkit/tokensource"
)

// lockRetry is how long a lock waits between attempts while another
// holder has it: short next to a refresh, long enough not to spin.
const lockRetry = 10 * time.Millisecond

// Lock takes an exclusive lock on the file at LockPath, waiting until it
// is free or ctx ends; then it returns an error wrapping ctx's that names
// the lock file. It creates the directory (mode 0700) and the file (mode
// 0600) when missing, and never deletes the file. It is the
// [tokensource.Locker] of the Store, as [tokensource.FileStore.Lock] is
// of a file: a Source takes it around each refresh, so that the
// processes of the user refresh one at a time.
//
// The lock excludes other processes and other Lock calls of this process,
// through this Store or another of the same service and user: each call
// opens the file anew, and the lock belongs to the open file (flock on
// Unix, LockFileEx on Windows). It is advisory: Load, Save and Put do not
// take it. The OS releases it when the process dies, so a crash leaves no
// stale lock. Stores of one service and user lock the same file only if
// they have the same LockPath: the default one, or one that each names.
//
// The returned unlock releases the lock and closes the file. Calling it
// more than once is harmless.
func (s *Store) Lock(ctx context.Context) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, s.fail("lock", err)
	}
	if s.lockErr != nil {
		return nil, s.fail("lock", s.lockErr)
	}
	return lockFile(ctx, s.lockPath)
}

// defaultLockPath returns the lock file of a Store of service and user
// with no Options.LockPath: one in the user's cache directory, named by a
// hash of both, which holds every character of either.
func defaultLockPath(service, user string) (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no lock file: set Options.LockPath (%w)", err)
	}
	sum := sha256.Sum256([]byte(strconv.Quote(service) + " " + strconv.Quote(user)))
	return filepath.Join(dir, "tokensource", "keyring-"+hex.EncodeToString(sum[:16])+".lock"), nil
}

// lockFile takes an exclusive lock on the file at path, creating it and
// its directory when missing, waiting no longer than ctx.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	fail := func(err error) (func(), error) {
		return nil, &tokensource.StoreError{Op: "lock", Where: fmt.Sprintf("lock file %q", path), Err: err}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fail(err)
	}
	// The file stays when unlocked: deleting it would let a process that
	// opened it before lock a file no one else sees.
	fl := flock.New(path, flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err == nil && !ok {
		ok, err = fl.TryLockContext(ctx, lockRetry)
	}
	if !ok {
		// TryLockContext reports failure with an error; the fallback only
		// keeps a nil unlock from ever being returned without one.
		return fail(cmp.Or(err, errors.New("lock not taken")))
	}
	var once sync.Once
	return func() {
		// An error here leaves the file open and the lock held until the
		// process exits; unlock has no one to report it to.
		once.Do(func() { fl.Unlock() })
	}, nil
}
