package tokensource

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"
)

// lockRetry is how long Lock sleeps between attempts while another holder
// has the lock: short next to a refresh, long enough not to spin.
const lockRetry = 10 * time.Millisecond

// Lock takes an exclusive lock on the file at Path() + ".lock", waiting
// until it is free or ctx ends; then it returns ctx's error wrapped in one
// that names the lock file. It creates the directory (mode 0700) and the
// lock file (mode 0600) when missing, and never deletes the lock file.
//
// The lock excludes other processes and, on Linux, macOS, the BSDs and
// Windows, other Lock calls in this process too, through this FileStore or
// another on the same path: every call opens the lock file anew, and these
// locks belong to the open file, not to the process. It is advisory: Load
// and Save do not take it. The OS releases it when the process dies, so a
// crash leaves no stale lock.
//
// The returned unlock releases the lock and closes the file. Calling it
// more than once is harmless.
func (f *FileStore) Lock(ctx context.Context) (unlock func(), err error) {
	if err := f.ready(ctx); err != nil {
		return nil, err
	}
	return lockFile(ctx, f.path+".lock")
}

// lockFile takes an exclusive lock on the file at path, creating it and
// its directory when missing, waiting no longer than ctx.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("tokensource: cannot lock %q: %w", path, err)
	}
	// The lock file stays when unlocked: deleting it would let a process
	// that opened it before lock a file no one else sees.
	fl := flock.New(path, flock.SetPermissions(0o600))
	ok, err := fl.TryLock()
	if err == nil && !ok {
		testHookLockBusy(path)
		ok, err = fl.TryLockContext(ctx, lockRetry)
	}
	if !ok {
		// TryLockContext reports failure with an error; the fallback only
		// keeps a nil unlock from ever being returned without one.
		err = cmp.Or(err, errors.New("lock not taken"))
		return nil, fmt.Errorf("tokensource: cannot lock %q: %w", path, err)
	}
	var once sync.Once
	return func() {
		// An error here leaves the file open and the lock held until the
		// process exits; unlock has no one to report it to.
		once.Do(func() { fl.Unlock() })
	}, nil
}

// testHookLockBusy is called with the lock file's path when Lock finds the
// lock held and starts to wait; tests replace it to know that a Lock waits.
var testHookLockBusy = func(path string) {}
