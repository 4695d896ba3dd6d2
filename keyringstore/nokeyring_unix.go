//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package keyringstore

import (
	"errors"
	"strings"

	"github.com/godbus/dbus/v5"
)

// The build constraint is go-keyring's for its Secret Service provider.

// probe connects to the D-Bus session bus, as every call of go-keyring
// does first; it fails with an error wrapping ErrNoKeyring when there is
// none (no address, nothing listening there, a bus that refuses us).
// go-keyring's own call would fail the same way, with an error that does
// not say it came from connecting. The connection is shared, and kept.
func probe() error {
	if _, err := dbus.SessionBus(); err != nil {
		return noKeyring(err)
	}
	return nil
}

// lockedCollections are the collections go-keyring unlocks before it
// reads or writes an item: the login collection, or the default one.
var lockedCollections = []string{
	"'/org/freedesktop/secrets/collection/login'",
	"'/org/freedesktop/secrets/aliases/default'",
}

// platformNoKeyring reports whether err says that no Secret Service can be
// used: the bus knows no org.freedesktop.secrets and cannot start one, or
// the collection stays locked. go-keyring reports a collection it could
// not unlock with an error of its own, recognized by its message; an item
// it could not unlock (one deleted meanwhile) is not this.
func platformNoKeyring(err error) bool {
	var name string
	var de dbus.Error
	var dp *dbus.Error
	switch {
	case errors.As(err, &de):
		name = de.Name
	case errors.As(err, &dp) && dp != nil:
		name = dp.Name
	}
	switch {
	case name == "org.freedesktop.DBus.Error.ServiceUnknown",
		name == "org.freedesktop.DBus.Error.NameHasNoOwner",
		name == "org.freedesktop.DBus.Error.NoServer",
		strings.HasPrefix(name, "org.freedesktop.DBus.Error.Spawn."):
		return true
	case name != "":
		return false
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "failed to unlock correct collection ") {
		return false
	}
	for _, c := range lockedCollections {
		if strings.HasSuffix(msg, c) {
			return true
		}
	}
	return false
}
