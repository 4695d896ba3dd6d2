package keyringstore

import (
	"errors"
	"syscall"
)

// errNoSuchLogonSession is ERROR_NO_SUCH_LOGON_SESSION, the error of the
// Credential Manager to a process with no logon session of a user: a
// service running as a system account, a scheduled task with no stored
// credentials.
const errNoSuchLogonSession = syscall.Errno(1312)

// probe does nothing: the Credential Manager needs no connection.
func probe() error { return nil }

// platformNoKeyring reports whether err says that the Credential Manager
// cannot be used by this process.
func platformNoKeyring(err error) bool { return errors.Is(err, errNoSuchLogonSession) }
