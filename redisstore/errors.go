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
