package tokensource

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestFileStoreSaveRemovesStaleTempFiles checks that temporary files left
// by Saves that died before their rename (see TestFileStoreSurvivesSIGKILL)
// do not pile up: a Save removes those old enough that no live Save can
// own them, and leaves a recent one, which may belong to a Save running in
// another process, alone.
func TestFileStoreSaveRemovesStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token.json")
	store := NewFileStore(path)
	mustSave(t, store, sampleToken())

	stale := filepath.Join(dir, ".token.json.tmp111")
	recent := filepath.Join(dir, ".token.json.tmp222")
	writeFile(t, stale, []byte(`{"access_token":"ac`))
	writeFile(t, recent, []byte(`{"access_token":"ac`))
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}

	mustSave(t, store, numberedToken(1))
	checkDirHolds(t, dir, ".token.json.tmp222", "token.json")
}
