package redisstore

import (
	"errors"
	"fmt"
)

// ErrLeaseLost is wrapped by the error of a Save or Delete made under a
// Lock whose lease had ended: it expired while its holder stalled, and
// another process may have taken it and saved a newer token. Nothing was
// written. Its message carries no package name, as it is always wrapped by
// one that does.
var ErrLeaseLost = errors.New("lease lost")

// errorf returns the error of operation op on the Redis key.
func (s *Store) errorf(op, key string, err error) error {
	return fmt.Errorf("redisstore: %s %s: %w", op, key, err)
}

// kindError is an error that the root package names with a sentinel,
// tokensource.ErrNotFound or tokensource.ErrCorrupt, in this package's
// words: errors.Is finds the sentinel, and the message names the package
// once.
type kindError struct {
	op, key string
	what    string
	kind    error // the sentinel
	err     error // the cause, or nil
}

func (e *kindError) Error() string {
	msg := "redisstore: " + e.op + " " + e.key + ": " + e.what
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}
func (e *kindError) Unwrap() error        { return e.err }
func (e *kindError) Is(target error) bool { return target == e.kind }
