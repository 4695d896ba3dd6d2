package tokensource

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/oauth2"
)

// tokenCmp compares the exported fields of tokens. cmp compares the
// expiries with time.Time.Equal, as instants, since a time read back from
// JSON may carry another *time.Location.
var tokenCmp = cmpopts.IgnoreUnexported(oauth2.Token{})

// sampleToken returns a token with every exported field set, its expiry
// given to the nanosecond to catch a format that rounds it.
func sampleToken() *oauth2.Token {
	return &oauth2.Token{
		AccessToken:  "access-1",
		TokenType:    "Bearer",
		RefreshToken: "refresh-1",
		Expiry:       time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600)),
		ExpiresIn:    3600,
	}
}

// tempTokenPath returns a path for a token file in a fresh directory.
func tempTokenPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "token.json")
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// readToken returns the token in the file at path, as MarshalToken writes
// it: the record around it (its generation, an intent) left out.
func readToken(t *testing.T, path string) string {
	t.Helper()
	rec, err := DecodeRecord(readFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	data, err := MarshalToken(rec.Token)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func TestFileStoreLoadMissingFile(t *testing.T) {
	path := tempTokenPath(t)
	_, err := NewFileStore(path).Load(context.Background())
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load of a missing file: got %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
}

func TestFileStoreLoadCorruptFile(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"garbage", "garbage"},
		{"empty", ""},
		{"array", "[]"},
		{"null", "null"},
		{"number access_token", `{"access_token":5}`},
		{"no credential", `{}`},
		{"only token_type", `{"token_type":"Bearer","expiry":"2030-01-01T00:00:00Z"}`},
		{"truncated", `{"access_token":"a","refresh_tok`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempTokenPath(t)
			writeFile(t, path, []byte(tc.content))
			tok, err := NewFileStore(path).Load(context.Background())
			if err == nil {
				t.Fatalf("Load of %q: got %+v, want an error", tc.content, tok)
			}
			if errors.Is(err, ErrNotFound) || !errors.Is(err, ErrCorrupt) {
				t.Errorf("Load of %q: %v; want an error wrapping ErrCorrupt, not ErrNotFound", tc.content, err)
			}
			if _, uerr := UnmarshalToken([]byte(tc.content)); !errors.Is(uerr, ErrCorrupt) {
				t.Errorf("UnmarshalToken(%q): %v; want an error wrapping ErrCorrupt", tc.content, uerr)
			}
			want := fmt.Sprintf("token file %q: the stored token is corrupt", path)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
			if got := string(readFile(t, path)); got != tc.content {
				t.Errorf("file changed to %q", got)
			}
		})
	}
}

func TestFileStoreDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	path := tempTokenPath(t)
	store := NewFileStore(path)
	if err := store.Save(ctx, sampleToken()); !errors.Is(err, context.Canceled) {
		t.Errorf("Save with a cancelled context: got %v, want context.Canceled", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Save with a cancelled context wrote the file (stat: %v)", err)
	}
	if _, err := store.Load(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a cancelled context: got %v, want context.Canceled", err)
	}
	mustSave(t, store, sampleToken())
	if err := store.Delete(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with a cancelled context: got %v, want context.Canceled", err)
	}
	mustLoad(t, store)
}

func mustSave(t *testing.T, store *FileStore, tok *oauth2.Token) {
	t.Helper()
	if err := store.Save(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}

func mustLoad(t *testing.T, store *FileStore) *oauth2.Token {
	t.Helper()
	tok, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestFileStoreRoundTrip(t *testing.T) {
	store := NewFileStore(tempTokenPath(t))
	for _, want := range []*oauth2.Token{
		sampleToken(),
		{AccessToken: "only-access"},
		{RefreshToken: "only-refresh"},
	} {
		mustSave(t, store, want)
		if diff := cmp.Diff(want, mustLoad(t, store), tokenCmp); diff != "" {
			t.Errorf("Load after Save (-want +got):\n%s", diff)
		}
	}
}

func TestFileStoreSaveRefusesTokenWithoutCredential(t *testing.T) {
	path := tempTokenPath(t)
	store := NewFileStore(path)
	mustSave(t, store, sampleToken())
	old := readFile(t, path)
	for _, tok := range []*oauth2.Token{nil, {}, {TokenType: "Bearer", ExpiresIn: 60}} {
		err := store.Save(context.Background(), tok)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("Save(%+v): got %v, want an error naming %s", tok, err, path)
		}
	}
	if got := readFile(t, path); string(got) != string(old) {
		t.Errorf("file changed to %s", got)
	}
}

func TestNewFileStoreRefusesEmptyPath(t *testing.T) {
	defer func() {
		if msg, _ := recover().(string); !strings.Contains(msg, "empty path") {
			t.Errorf("NewFileStore(\"\") panicked with %q, want a message about the empty path", msg)
		}
	}()
	NewFileStore("")
}

// TestFileStoreWithoutPathFails checks that a FileStore not made by
// NewFileStore says so, rather than report that no token is stored.
func TestFileStoreWithoutPathFails(t *testing.T) {
	var store FileStore
	ctx := context.Background()
	_, loadErr := store.Load(ctx)
	_, lockErr := store.Lock(ctx)
	for name, err := range map[string]error{
		"Load":   loadErr,
		"Save":   store.Save(ctx, sampleToken()),
		"Lock":   lockErr,
		"Delete": store.Delete(ctx),
	} {
		if !errors.Is(err, errNoPath) || errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want %v", name, err, errNoPath)
		}
	}
}

// TestFileStoreErrorsQuotePath checks that every error quotes the path, so
// that a path with spaces reads unambiguously.
func TestFileStoreErrorsQuotePath(t *testing.T) {
	ctx := context.Background()
	load := func(s *FileStore) error { _, err := s.Load(ctx); return err }
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, path string)
		op    func(s *FileStore) error
		names string // what the error quotes, after the path
	}{
		{"Load of a missing file", func(*testing.T, string) {}, load, ""},
		{"Load with a done context", func(*testing.T, string) {}, func(s *FileStore) error {
			ctx, cancel := context.WithCancel(ctx)
			cancel()
			_, err := s.Load(ctx)
			return err
		}, ""},
		{"Load of a corrupt file", func(t *testing.T, path string) { mkdir(t, filepath.Dir(path)); writeFile(t, path, []byte("{")) }, load, ""},
		{"Save under a regular file", func(t *testing.T, path string) { writeFile(t, filepath.Dir(path), nil) },
			func(s *FileStore) error { return s.Save(ctx, sampleToken()) }, ""},
		{"Lock under a regular file", func(t *testing.T, path string) { writeFile(t, filepath.Dir(path), nil) },
			func(s *FileStore) error { _, err := s.Lock(ctx); return err }, ".lock"},
		{"Delete of a directory", func(t *testing.T, path string) { mkdir(t, filepath.Join(path, "inside")) },
			func(s *FileStore) error { return s.Delete(ctx) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tc.name, "token.json")
			tc.setup(t, path)
			err := tc.op(NewFileStore(path))
			if want := fmt.Sprintf("%q", path+tc.names); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("got %v, want an error quoting %s", err, want)
			}
		})
	}
}

func mkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
}

func TestFileStoreDeleteRemovesTokenAndDeadTemps(t *testing.T) {
	path := tempTokenPath(t)
	store := NewFileStore(path)
	mustSave(t, store, sampleToken())
	// A temporary file of a Save that died long ago: it holds a token too.
	stale := filepath.Join(filepath.Dir(path), ".token.json.tmp111")
	writeFile(t, stale, []byte(`{"access_token":"ac`))
	makeOld(t, stale, time.Hour)

	for range 2 { // the second time, there is nothing left to delete
		if err := store.Delete(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Load(context.Background()); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Load after Delete: %v, want ErrNotFound", err)
		}
		// The tombstone stays, so that no Source writes the grant back.
		checkDirHolds(t, filepath.Dir(path), "token.json", "token.json.lock", "token.json.put")
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
				ctx, cancel := context.WithTimeout(context.Background(), wait)
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
	case <-time.After(wait):
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
	// The tombstone says there is nothing to refresh with: the
	// RefreshFunc is not called again.
	if n := e.calls.Load(); n != 1 {
		t.Errorf("%d RefreshFunc calls, want 1", n)
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
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := NewFileStore(path).Delete(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Println("deleted")
}

// deleteInChild runs TestFileStoreDeleteChild on path.
func deleteInChild(t *testing.T, path string) (waiting <-chan struct{}, deleted <-chan error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*wait)
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
