package keyringstore

import (
	"errors"
	"io/fs"
	"os/exec"
)

// probe does nothing: go-keyring runs /usr/bin/security for each call,
// and says so when it cannot.
func probe() error { return nil }

// platformNoKeyring reports whether err says that the security tool,
// through which go-keyring reaches the Keychain, cannot be run.
func platformNoKeyring(err error) bool {
	return errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist)
}
