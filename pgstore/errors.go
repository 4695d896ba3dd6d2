package pgstore

import "fmt"

// errorf returns an error that says what failed on which table and key.
func (s *Store) errorf(what string, err error) error {
	return fmt.Errorf("pgstore: %s: %s: %w", s.name, what, err)
}

// kindError is an error that the root package names with a sentinel,
// tokensource.ErrNotFound or tokensource.ErrCorrupt, in this package's
// words: errors.Is finds the sentinel, and the message names the package
// once.
type kindError struct {
	name string // table "t" key "k"
	what string
	kind error // the sentinel
	err  error // the cause, or nil
}

func (e *kindError) Error() string {
	msg := "pgstore: " + e.name + ": " + e.what
	if e.err != nil {
		msg += ": " + e.err.Error()
	}
	return msg
}
func (e *kindError) Unwrap() error        { return e.err }
func (e *kindError) Is(target error) bool { return target == e.kind }
