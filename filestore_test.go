package tokensource

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
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

// tempTokenPath returns a path for a token file in a fresh folder.
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

func TestFileStoreLoadReadsOAuth2JSON(t *testing.T) {
	path := tempTokenPath(t)
	for _, want := range []*oauth2.Token{sampleToken(), {AccessToken: "only-access"}} {
		data, err := json.Marshal(*want)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, data)
		got, err := NewFileStore(path).Load(context.Background())
		if err != nil {
			t.Fatalf("Load of %s: %v", data, err)
		}
		if diff := cmp.Diff(want, got, tokenCmp); diff != "" {
			t.Errorf("Load of %s (-want +got):\n%s", data, diff)
		}
	}
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
			want := fmt.Sprintf("token file %q is corrupt", path)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
			if got := string(readFile(t, path)); got != tc.content {
				t.Errorf("file changed to %q", got)
			}
		})
	}
}

func TestFileStoreCorruptErrorHoldsNoTokenValue(t *testing.T) {
	for _, content := range []string{
		`{"access_token":"secret-AAA", "expiry": "garbage"}`,
		`{"access_token":"a", "expiry": "secret-BBB"}`,
		`{"refresh_token":"secret-CCC", "expires_in": "secret-DDD"}`,
		`{"access_token":"secret-EEE", "expiry": 5}`,
	} {
		path := tempTokenPath(t)
		writeFile(t, path, []byte(content))
		_, err := NewFileStore(path).Load(context.Background())
		if err == nil {
			t.Fatalf("Load of %s: got no error", content)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Load of %s: error %q holds a token value", content, err)
		}
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

func TestFileStoreFileReadsAsOAuth2Token(t *testing.T) {
	path := tempTokenPath(t)
	want := sampleToken().WithExtra(map[string]any{"id_token": "id-1", "scope": "a b"})
	mustSave(t, NewFileStore(path), want)
	data := readFile(t, path)
	if !strings.HasSuffix(string(data), "}\n") {
		t.Errorf("file does not end in a newline: %q", data)
	}
	var got oauth2.Token
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, &got, tokenCmp); diff != "" {
		t.Errorf("json.Unmarshal of the file (-want +got):\n%s", diff)
	}
}

func TestFileStoreKeepsExtras(t *testing.T) {
	store := NewFileStore(tempTokenPath(t))
	mustSave(t, store, sampleToken().WithExtra(map[string]any{
		"id_token": "id-1",
		"scope":    "openid email",
		"other":    "not kept",
	}))
	got := mustLoad(t, store)
	for key, want := range map[string]any{"id_token": "id-1", "scope": "openid email", "other": nil} {
		if v := got.Extra(key); v != want {
			t.Errorf("Extra(%q) = %#v, want %#v", key, v, want)
		}
	}
	if diff := cmp.Diff(sampleToken(), got, tokenCmp); diff != "" {
		t.Errorf("Load after Save (-want +got):\n%s", diff)
	}
}

// skipPermsOnWindows skips a test of Unix file modes, which Windows does
// not have.
func skipPermsOnWindows(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("Windows has no Unix file modes")
	}
}

func checkMode(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("mode of %s = %v, want %v", path, got, want)
	}
}

func TestFileStorePermissions(t *testing.T) {
	skipPermsOnWindows(t)
	root := t.TempDir()
	path := filepath.Join(root, "a", "b", "token.json")
	mustSave(t, NewFileStore(path), sampleToken())
	checkMode(t, path, 0o600)
	checkMode(t, filepath.Join(root, "a"), 0o700)
	checkMode(t, filepath.Join(root, "a", "b"), 0o700)
}

func TestFileStoreKeepsModeOfExistingFolder(t *testing.T) {
	skipPermsOnWindows(t)
	dir := filepath.Join(t.TempDir(), "shared")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { // undo the umask
		t.Fatal(err)
	}
	mustSave(t, NewFileStore(filepath.Join(dir, "token.json")), sampleToken())
	checkMode(t, dir, 0o755)
}

func TestFileStoreReplacesWideModeWith0600(t *testing.T) {
	skipPermsOnWindows(t)
	path := tempTokenPath(t)
	data, err := json.Marshal(sampleToken())
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, data)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	mustSave(t, NewFileStore(path), &oauth2.Token{AccessToken: "access-2"})
	checkMode(t, path, 0o600)
}

// checkDirHolds fails t unless dir holds exactly the files named want.
func checkDirHolds(t *testing.T, dir string, want ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("files in %s (-want +got):\n%s", dir, diff)
	}
}

func TestFileStoreLeavesNoTempFiles(t *testing.T) {
	path := tempTokenPath(t)
	store := NewFileStore(path)
	for i := range 20 {
		mustSave(t, store, &oauth2.Token{AccessToken: fmt.Sprint("access-", i)})
	}
	checkDirHolds(t, filepath.Dir(path), "token.json")
	if got := mustLoad(t, store).AccessToken; got != "access-19" {
		t.Errorf("AccessToken = %q, want the last one saved, access-19", got)
	}
}

func TestFileStoreSaveFailsWhenParentIsAFile(t *testing.T) {
	dir := t.TempDir()
	parent := filepath.Join(dir, "not-a-folder")
	writeFile(t, parent, []byte("keep"))
	path := filepath.Join(parent, "token.json")
	err := NewFileStore(path).Save(context.Background(), sampleToken())
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Save under a regular file: got %v, want an error naming %s", err, path)
	}
	if got := string(readFile(t, parent)); got != "keep" {
		t.Errorf("parent file changed to %q", got)
	}
	checkDirHolds(t, dir, "not-a-folder")
}

// TestFileStoreFailedRenameRemovesTempFile fails the rename, the last step
// before the file is replaced, by putting a non-empty folder at the path.
func TestFileStoreFailedRenameRemovesTempFile(t *testing.T) {
	path := tempTokenPath(t)
	if err := os.MkdirAll(filepath.Join(path, "inside"), 0o700); err != nil {
		t.Fatal(err)
	}
	err := NewFileStore(path).Save(context.Background(), sampleToken())
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Save over a folder: got %v, want an error naming %s", err, path)
	}
	checkDirHolds(t, filepath.Dir(path), "token.json")
	checkDirHolds(t, path, "inside")
}

func TestFileStoreSaveInReadOnlyFolderKeepsOldFile(t *testing.T) {
	skipPermsOnWindows(t)
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only folders")
	}
	path := tempTokenPath(t)
	store := NewFileStore(path)
	mustSave(t, store, sampleToken())
	old := readFile(t, path)
	dir := filepath.Dir(path)
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o700) })
	err := store.Save(context.Background(), &oauth2.Token{AccessToken: "access-2"})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Save in a read-only folder: got %v, want an error naming %s", err, path)
	}
	if got := readFile(t, path); string(got) != string(old) {
		t.Errorf("file changed to %s", got)
	}
	checkDirHolds(t, dir, "token.json")
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

// numberedToken returns token n of a family whose fields all carry n, with
// an access token long enough that a torn write would show.
func numberedToken(n int) *oauth2.Token {
	return &oauth2.Token{
		AccessToken:  fmt.Sprintf("access-%d-%s", n, strings.Repeat("x", 16<<10)),
		RefreshToken: fmt.Sprintf("refresh-%d", n),
		ExpiresIn:    int64(n),
	}
}

// TestFileStoreConcurrentSaveLoad checks that a Load racing with Saves
// always reads one whole token. Half of the goroutines use a second
// FileStore on the same path, so that only the atomic rename, not the
// FileStore's own mutex, keeps them apart.
func TestFileStoreConcurrentSaveLoad(t *testing.T) {
	path := tempTokenPath(t)
	stores := []*FileStore{NewFileStore(path), NewFileStore(path)}
	if runtime.GOOS == "windows" {
		// A file another handle has open cannot be renamed over there.
		stores[1] = stores[0]
	}
	mustSave(t, stores[0], numberedToken(0))
	var wg sync.WaitGroup
	for g := range 50 {
		store := stores[g%2]
		wg.Go(func() {
			for i := range 10 {
				n := g*10 + i
				if err := store.Save(context.Background(), numberedToken(n)); err != nil {
					t.Error(err)
					return
				}
				tok, err := store.Load(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if want := numberedToken(int(tok.ExpiresIn)); !cmp.Equal(want, tok, tokenCmp) {
					t.Errorf("loaded a token mixed from several saves: expires_in %d, refresh token %q",
						tok.ExpiresIn, tok.RefreshToken)
					return
				}
			}
		})
	}
	wg.Wait()
	checkDirHolds(t, filepath.Dir(path), "token.json")
}

// lockWait bounds every wait for a lock that a test expects to get, so a
// broken Lock fails the test instead of hanging it.
const lockWait = 10 * time.Second

func mustLock(t *testing.T, store *FileStore) (unlock func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), lockWait)
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
				ctx, cancel := context.WithTimeout(context.Background(), lockWait)
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
	parent := filepath.Join(t.TempDir(), "not-a-folder")
	writeFile(t, parent, []byte("keep"))
	store := NewFileStore(filepath.Join(parent, "token.json"))
	ctx, cancel := context.WithTimeout(context.Background(), lockWait)
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

func TestMarshalTokenRoundTrip(t *testing.T) {
	tok := (&oauth2.Token{
		AccessToken:  "at",
		TokenType:    "Bearer",
		RefreshToken: "rt",
		Expiry:       time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		ExpiresIn:    3600,
	}).WithExtra(map[string]any{"id_token": "idt", "scope": "a b", "other": "dropped"})
	data, err := MarshalToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalToken(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tok, got, cmpopts.IgnoreUnexported(oauth2.Token{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, key := range []string{"id_token", "scope"} {
		if got.Extra(key) != tok.Extra(key) {
			t.Errorf("Extra(%q) = %v, want %v", key, got.Extra(key), tok.Extra(key))
		}
	}
	if got.Extra("other") != nil {
		t.Errorf("Extra(other) = %v, want it dropped", got.Extra("other"))
	}
	if _, err := MarshalToken(&oauth2.Token{TokenType: "Bearer"}); err == nil {
		t.Error("MarshalToken of a token without credentials: no error")
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
