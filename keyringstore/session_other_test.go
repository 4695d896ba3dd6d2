//go:build !linux

package keyringstore

import "runtime"

// runInSession says why the tests have no keyring: they run on Linux,
// against a gnome-keyring of their own; elsewhere they are only built.
func runInSession() (code int, why string) {
	return 0, "keyringstore: the keyring tests run on Linux, against gnome-keyring; on " + runtime.GOOS + " they only build"
}
