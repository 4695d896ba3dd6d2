//go:build !((dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd || windows || darwin)

package keyringstore

// probe does nothing: go-keyring has no keyring here, and every call
// fails with keyring.ErrUnsupportedPlatform, which is ErrNoKeyring.
func probe() error { return nil }

// platformNoKeyring reports nothing more than classify does.
func platformNoKeyring(error) bool { return false }
