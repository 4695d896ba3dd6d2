package tokensource

import (
	"os"
	"path/filepath"
	"runtime"
)

// writeFileAtomic replaces the file at path with data so that a crash at
// any moment leaves either the old content or the new, never a mix: data
// goes to a temporary file in the same directory (a rename is atomic only
// within one file system), is flushed to disk, and is then renamed over
// path. On error the temporary file is removed and path is untouched,
// unless the error is from the final directory sync, which comes after the
// rename. The new file has mode 0600 whatever the old one had, since it is
// a new file; a missing directory is created with mode 0700.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, tempPattern(filepath.Base(path)))
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
	removeDeadTemps(path)
	return syncDir(dir)
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

// syncDir flushes the directory dir to disk, so that a rename in it
// survives a crash. Windows cannot open a directory for syncing, and
// persists renames on its own, so there it does nothing.
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
