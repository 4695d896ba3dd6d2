package tokensource

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// TestFileStoreSaveRemovesStaleTempFiles checks that temporary files left
// by Saves that died before their rename (see TestFileStoreSurvivesSIGKILL),
// and whose writer cannot be checked (here, names without one, as older
// versions wrote them), do not pile up: a Save removes those old enough
// that no live Save can own them, and leaves a recent one alone.
func TestFileStoreSaveRemovesStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token.json")
	store := NewFileStore(path)
	mustSave(t, store, sampleToken())

	stale := filepath.Join(dir, ".token.json.tmp111")
	recent := filepath.Join(dir, ".token.json.tmp222")
	writeFile(t, stale, []byte(`{"access_token":"ac`))
	writeFile(t, recent, []byte(`{"access_token":"ac`))
	makeOld(t, stale, time.Hour)

	mustSave(t, store, numberedToken(1))
	checkDirHolds(t, dir, ".token.json.tmp222", "token.json", "token.json.put")
}

// TestFileStoreSaveRemovesTempFilesOfDeadWriters checks that a Save removes
// the temporary file of a writer on this host whose process is gone, however
// recent, and not that of a live writer, unless it is days old: its pid may
// have been reused. A file written on another host is judged by its age
// alone.
func TestFileStoreSaveRemovesTempFilesOfDeadWriters(t *testing.T) {
	if _, known := processGone(os.Getpid()); !known || hostTag() == "" {
		t.Skip("no way to tell here whether a writer is alive")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "token.json")
	store := NewFileStore(path)
	mustSave(t, store, sampleToken())

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead, live := cmd.ProcessState.Pid(), os.Getpid()
	temp := func(host string, pid int, age time.Duration) string {
		name := tempPrefix("token.json") + "-" + host + "-" + strconv.Itoa(pid) + "-" + strconv.FormatInt(int64(age), 10)
		writeFile(t, filepath.Join(dir, name), []byte(`{"access_token":"ac`))
		if age > 0 {
			makeOld(t, filepath.Join(dir, name), age)
		}
		return name
	}
	temp(hostTag(), dead, 0)
	liveOld := temp(hostTag(), live, time.Hour)
	temp(hostTag(), live, 2*deadTempAge)
	elsewhereRecent := temp("elsewhere", dead, 0)
	temp("elsewhere", dead, time.Hour)

	mustSave(t, store, numberedToken(1))
	checkDirHolds(t, dir, liveOld, elsewhereRecent, "token.json", "token.json.put")
}

// makeOld sets the times of the file at path to age ago.
func makeOld(t *testing.T, path string, age time.Duration) {
	t.Helper()
	old := time.Now().Add(-age)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
}
