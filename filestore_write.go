package tokensource

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// writeFileAtomic replaces the file at path with data so that a crash at
// any moment leaves either the old content or the new, never a mix: data
// goes to a temporary file in the same folder (a rename is atomic only
// within one file system), is flushed to disk, and is then renamed over
// path. On error the temporary file is removed and path is untouched,
// unless the error is from the final folder sync, which comes after the
// rename. The new file has mode 0600 whatever the old one had, since it is
// a new file; a missing folder is created with mode 0700.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	// The leading dot hides the temporary file from a plain ls, and the
	// random suffix CreateTemp adds keeps concurrent writers apart.
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close() // a second Close fails harmlessly
			os.Remove(tmp.Name())
		}
	}()
	if err := writeAndClose(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	removeStaleTemps(path)
	return syncDir(dir)
}

// staleTempAge is how old a temporary file must be before a Save removes
// it: far longer than any live Save takes, so that a Save running in
// another process never loses its file.
const staleTempAge = time.Minute

// removeStaleTemps removes the temporary files of Saves that died before
// their rename (a crash, a kill), so that they do not pile up, each holding
// a token. Failures are ignored: the next Save tries again.
func removeStaleTemps(path string) {
	temps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "."+globEscape(filepath.Base(path))+".tmp*"))
	for _, name := range temps {
		if fi, err := os.Lstat(name); err == nil && fi.Mode().IsRegular() && time.Since(fi.ModTime()) > staleTempAge {
			os.Remove(name)
		}
	}
}

// globEscape quotes the characters filepath.Match gives a meaning to.
func globEscape(s string) string {
	if runtime.GOOS == "windows" {
		// No escape character there; such names simply find nothing.
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// writeAndClose writes data to f, flushes it to disk and closes f. CreateTemp
// made f with mode 0600, so no chmod is needed.
func writeAndClose(f *os.File, data []byte) error {
	if _, err := f.Write(data); err != nil {
		return err
	}
	// Without the sync, a crash soon after the rename can leave an empty
	// file at path on file systems that order metadata before data.
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// syncDir flushes the folder dir to disk, so that a rename in it survives a
// crash. Windows cannot open a folder for syncing, and persists renames on
// its own, so there it does nothing.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
