package tokensource

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

func TestFileStoreDeleteRemovesTokenAndDeadTemps(t *testing.T) {
	path := tempTokenPath(t)
	store := NewFileStore(path)
	mustSave(t, store, sampleToken())
	// A temporary file of a Save that died long ago: it holds a token too.
	stale := filepath.Join(filepath.Dir(path), ".token.json.tmp111")
	writeFile(t, stale, []byte(`{"access_token":"ac`))
	makeOld(t, stale)

	for range 2 { // the second time, there is nothing left to delete
		if err := store.Delete(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Load(context.Background()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Load after Delete: %v, want ErrNotFound", err)
		}
		checkDirHolds(t, filepath.Dir(path), "token.json.lock")
	}
}

func TestMemoryStoreDeleteEmptiesStore(t *testing.T) {
	store := storeWith(t, sampleToken())
	for range 2 {
		if err := store.Delete(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Load(context.Background()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Load after Delete: %v, want ErrNotFound", err)
		}
	}
}

// TestFileStoreDeleteWaitsForConcurrentRefresh logs out while a Source's
// refresh is held in its RefreshFunc, under the file's lock, with Delete
// called in this process and in another one. Delete must wait for the
// lock: the refresh saves first, and the file is gone afterwards, not
// written back. The Source serves its new token until it expires, and then
// finds nothing to refresh with.
func TestFileStoreDeleteWaitsForConcurrentRefresh(t *testing.T) {
	t.Run("same process", func(t *testing.T) {
		deleteDuringRefresh(t, func(t *testing.T, path string) (waiting <-chan struct{}, deleted <-chan error) {
			busy := make(chan struct{}, 1)
			onLockBusy(t, path, func() { busy <- struct{}{} })
			done := make(chan error, 1)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), lockWait)
				defer cancel()
				done <- NewFileStore(path).Delete(ctx)
			}()
			return busy, done
		})
	})
	t.Run("other process", func(t *testing.T) {
		if testing.Short() {
			t.Skip("runs an OS process")
		}
		deleteDuringRefresh(t, deleteInChild)
	})
}

// deleteDuringRefresh holds a Source's refresh on a FileStore at path and
// starts a Delete with del, which returns a channel that receives once the
// Delete waits for the lock and one for its result.
func deleteDuringRefresh(t *testing.T, del func(t *testing.T, path string) (waiting <-chan struct{}, deleted <-chan error)) {
	clock := newTestClock()
	path := tempTokenPath(t)
	store := NewFileStore(path)
	mustSave(t, store, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)})
	rotate := rotating(clock, time.Hour)
	e := &fakeEndpoint{entered: make(chan struct{}, 1), release: make(chan struct{}),
		next: func(n int64, cur *oauth2.Token) (*oauth2.Token, error) {
			if cur == nil {
				return nil, fmt.Errorf("%w: nothing stored", ErrReauthRequired)
			}
			return rotate(n, cur)
		}}
	src := New(e.refresh, store, &Options{Now: clock.Now})
	got := make(chan error, 1)
	go func() {
		_, err := src.Token()
		got <- err
	}()
	recv(t, e.entered)

	waiting, deleted := del(t, path)
	select {
	case <-waiting:
	case err := <-deleted:
		close(e.release)
		recv(t, got)
		t.Fatalf("Delete returned (%v) while a refresh held the lock", err)
	case <-time.After(lockWait):
		t.Fatal("Delete neither waited for the lock nor returned")
	}
	close(e.release)
	if err := recv(t, got); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, deleted); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if st := src.Stats(); st.Refreshes != 1 || st.Saves != 1 {
		t.Errorf("Stats = %+v, want the refresh and its save done", st)
	}
	if _, err := store.Load(context.Background()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load after Delete: %v; the refresh wrote its token back", err)
	}

	mustToken(t, src, "a1")
	clock.Advance(2 * time.Hour)
	if _, err := src.Token(); !errors.Is(err, ErrReauthRequired) {
		t.Fatalf("Token after the log-out and expiry: %v, want ErrReauthRequired", err)
	}
	if n := e.calls.Load(); n != 2 {
		t.Errorf("%d RefreshFunc calls, want 2", n)
	}
}

// onLockBusy has fn called when a Lock on the FileStore at path starts
// waiting for another holder, until the test ends.
func onLockBusy(t *testing.T, path string, fn func()) {
	old := testHookLockBusy
	testHookLockBusy = func(lockPath string) {
		if lockPath == path+".lock" {
			fn()
		}
	}
	t.Cleanup(func() { testHookLockBusy = old })
}

// deleteChildEnv names the token file for TestFileStoreDeleteChild.
const deleteChildEnv = "TOKENSOURCE_TEST_DELETE_PATH"

// TestFileStoreDeleteChild is not a test: run by
// TestFileStoreDeleteWaitsForConcurrentRefresh in a child process, it deletes
// the token file, saying "waiting" on stdout if it has to wait for the
// lock, and "deleted" when Delete returned without error.
func TestFileStoreDeleteChild(t *testing.T) {
	path := os.Getenv(deleteChildEnv)
	if path == "" {
		t.Skip("child process of TestFileStoreDeleteWaitsForConcurrentRefresh")
	}
	onLockBusy(t, path, func() { fmt.Println("waiting") })
	ctx, cancel := context.WithTimeout(context.Background(), lockWait)
	defer cancel()
	if err := NewFileStore(path).Delete(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Println("deleted")
}

// deleteInChild runs TestFileStoreDeleteChild on path.
func deleteInChild(t *testing.T, path string) (waiting <-chan struct{}, deleted <-chan error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*lockWait)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestFileStoreDeleteChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), deleteChildEnv+"="+path)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	busy, done := make(chan struct{}, 1), make(chan error, 1)
	go func() {
		said := ""
		for sc := bufio.NewScanner(stdout); sc.Scan(); {
			switch sc.Text() {
			case "waiting":
				busy <- struct{}{}
			case "deleted":
				said = "deleted"
			}
		}
		err := cmd.Wait()
		if err == nil && said != "deleted" {
			err = errors.New("the child process did not say it deleted")
		}
		done <- err
	}()
	return busy, done
}
