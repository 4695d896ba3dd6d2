package pgstore

import (
	"fmt"

	"github.com/oauthkit/tokensource"
)

// errorf returns an error that says what failed on which table and key.
func (s *Store) errorf(what string, err error) error {
	return fmt.Errorf("pgstore: %s: %s: %w", s.name, what, err)
}

// corruptError is the error of a token that cannot be read back.
type corruptError struct {
	name string
	err  error
}

func (e *corruptError) Error() string {
	return "pgstore: " + e.name + ": the stored token is corrupt: " + e.err.Error()
}
func (e *corruptError) Unwrap() error        { return e.err }
func (e *corruptError) Is(target error) bool { return target == tokensource.ErrCorrupt }
