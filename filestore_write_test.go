package tokensource

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

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

func TestFileStoreKeepsModeOfExistingDirectory(t *testing.T) {
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
	checkDirHolds(t, filepath.Dir(path), "token.json", "token.json.put")
	if got := mustLoad(t, store).AccessToken; got != "access-19" {
		t.Errorf("AccessToken = %q, want the last one saved, access-19", got)
	}
}

func TestFileStoreSaveFailsWhenParentIsAFile(t *testing.T) {
	dir := t.TempDir()
	parent := filepath.Join(dir, "not-a-directory")
	writeFile(t, parent, []byte("keep"))
	path := filepath.Join(parent, "token.json")
	err := NewFileStore(path).Save(context.Background(), sampleToken())
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Save under a regular file: got %v, want an error naming %s", err, path)
	}
	if got := string(readFile(t, parent)); got != "keep" {
		t.Errorf("parent file changed to %q", got)
	}
	checkDirHolds(t, dir, "not-a-directory")
}

// TestFileStoreFailedRenameRemovesTempFile fails the rename, the last step
// before the file is replaced, by putting a non-empty directory at the path.
func TestFileStoreFailedRenameRemovesTempFile(t *testing.T) {
	path := tempTokenPath(t)
	if err := os.MkdirAll(filepath.Join(path, "inside"), 0o700); err != nil {
		t.Fatal(err)
	}
	err := NewFileStore(path).Save(context.Background(), sampleToken())
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Save over a directory: got %v, want an error naming %s", err, path)
	}
	checkDirHolds(t, filepath.Dir(path), "token.json")
	checkDirHolds(t, path, "inside")
}

func TestFileStoreSaveInReadOnlyDirectoryKeepsOldFile(t *testing.T) {
	skipPermsOnWindows(t)
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only directories")
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
		t.Fatalf("Save in a read-only directory: got %v, want an error naming %s", err, path)
	}
	if got := readFile(t, path); string(got) != string(old) {
		t.Errorf("file changed to %s", got)
	}
	checkDirHolds(t, dir, "token.json")
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
	checkDirHolds(t, filepath.Dir(path), "token.json", "token.json.put")
}
