package tokensource

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func mustLock(t *testing.T, store *FileStore) (unlock func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	unlock, err := store.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return unlock
}

// checkLockHeld fails t unless a Lock on store gives up with
// context.DeadlineExceeded, naming the lock file, when its context times
// out after 50ms.
func checkLockHeld(t *testing.T, store *FileStore) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	unlock, err := store.Lock(ctx)
	if err == nil {
		unlock()
		t.Fatal("Lock succeeded while another holder had the lock")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock: got %v, want context.DeadlineExceeded", err)
	}
	if lockPath := store.Path() + ".lock"; !strings.Contains(err.Error(), lockPath) {
		t.Errorf("error %q does not name %s", err, lockPath)
	}
}

func TestFileStoreLockExcludes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		second func(first *FileStore) *FileStore
	}{
		{"same FileStore", func(first *FileStore) *FileStore { return first }},
		{"another FileStore", func(first *FileStore) *FileStore { return NewFileStore(first.Path()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			first := NewFileStore(tempTokenPath(t))
			second := tc.second(first)
			unlock := mustLock(t, first)
			// Frees the waiting goroutine if the test stops early; a
			// second call of unlock is harmless.
			defer unlock()

			var released atomic.Bool
			started, acquired := make(chan struct{}), make(chan error, 1)
			go func() {
				close(started)
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				unlock2, err := second.Lock(ctx)
				if err == nil {
					if !released.Load() {
						err = errors.New("second Lock returned before the first was released")
					}
					unlock2()
				}
				acquired <- err
			}()
			<-started
			checkLockHeld(t, second)
			select {
			case err := <-acquired:
				t.Fatalf("second Lock returned while the first was held: %v", err)
			default:
			}

			released.Store(true)
			unlock()
			if err := <-acquired; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestFileStoreLockMutualExclusion runs read-modify-write cycles on the
// token file under the lock, the way refreshes use it, from goroutines
// sharing a FileStore or holding their own: a missing increment means two
// held the lock at once.
func TestFileStoreLockMutualExclusion(t *testing.T) {
	path := tempTokenPath(t)
	shared := NewFileStore(path)
	mustSave(t, shared, &oauth2.Token{RefreshToken: "refresh"})
	const goroutines, rounds = 10, 3
	var inside atomic.Int32
	var wg sync.WaitGroup
	for g := range goroutines {
		store := shared
		if g%2 == 1 {
			store = NewFileStore(path)
		}
		wg.Go(func() {
			for range rounds {
				unlock := mustLock(t, store)
				if n := inside.Add(1); n != 1 {
					t.Errorf("%d holders of the lock at once", n)
				}
				incrementExpiresIn(t, store)
				inside.Add(-1)
				unlock()
			}
		})
	}
	wg.Wait()
	if got := mustLoad(t, shared).ExpiresIn; got != goroutines*rounds {
		t.Errorf("ExpiresIn = %d after %d increments under the lock", got, goroutines*rounds)
	}
}

func incrementExpiresIn(t *testing.T, store *FileStore) {
	t.Helper()
	tok, err := store.Load(context.Background())
	if err != nil {
		t.Error(err)
		return
	}
	tok.ExpiresIn++
	if err := store.Save(context.Background(), tok); err != nil {
		t.Error(err)
	}
}

func TestFileStoreUnlockTwice(t *testing.T) {
	path := tempTokenPath(t)
	store := NewFileStore(path)
	unlock := mustLock(t, store)
	unlock()
	unlock()
	// A late second call must not release a lock taken since.
	unlockOther := mustLock(t, NewFileStore(path))
	defer unlockOther()
	unlock()
	checkLockHeld(t, store)
}

func TestFileStoreLockFile(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "new", "token.json")
	store := NewFileStore(path)
	mustLock(t, store)()
	// The lock file stays: removing it would let one process lock the old
	// file while another creates and locks a new one.
	checkDirHolds(t, filepath.Dir(path), "token.json.lock")
	if _, err := store.Load(context.Background()); !errors.Is(err, ErrNotFound) {
		t.Errorf("Load after Lock: got %v, want ErrNotFound", err)
	}
	if runtime.GOOS != "windows" {
		checkMode(t, filepath.Join(root, "new"), 0o700)
		checkMode(t, path+".lock", 0o600)
	}
}

func TestFileStoreLockFailsWhenParentIsAFile(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "not-a-directory")
	writeFile(t, parent, []byte("keep"))
	store := NewFileStore(filepath.Join(parent, "token.json"))
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	unlock, err := store.Lock(ctx)
	if err == nil {
		unlock()
		t.Fatal("Lock under a regular file succeeded")
	}
	if lockPath := store.Path() + ".lock"; !strings.Contains(err.Error(), lockPath) {
		t.Errorf("error %q does not name %s", err, lockPath)
	}
}

// lockHelperEnv names the lock path for TestFileStoreLockHelperProcess.
const lockHelperEnv = "TOKENSOURCE_TEST_LOCK_PATH"

// TestFileStoreLockHelperProcess is not a test: run by
// TestFileStoreLockExcludesOtherProcess in a child process, it takes the
// lock, says so on stdout, and holds it until stdin closes.
func TestFileStoreLockHelperProcess(t *testing.T) {
	path := os.Getenv(lockHelperEnv)
	if path == "" {
		t.Skip("helper process for TestFileStoreLockExcludesOtherProcess")
	}
	unlock := mustLock(t, NewFileStore(path))
	defer unlock()
	fmt.Println("locked")
	io.Copy(io.Discard, os.Stdin)
}

func TestFileStoreLockExcludesOtherProcess(t *testing.T) {
	path := tempTokenPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileStoreLockHelperProcess$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Closing stdin ends the child whatever happens here, and Wait reaps it.
	defer cmd.Wait()
	defer stdin.Close()

	line, err := bufio.NewReader(stdout).ReadString('\n')
	if line != "locked\n" {
		t.Fatalf("child process did not take the lock: read %q, %v", line, err)
	}
	store := NewFileStore(path)
	checkLockHeld(t, store)
	stdin.Close()
	mustLock(t, store)()
}
