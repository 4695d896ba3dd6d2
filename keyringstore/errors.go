package keyringstore

import (
	"errors"
	"fmt"

	"github.com/zalando/go-keyring"

	"github.com/oauthkit/tokensource"
)

// ErrNoKeyring is wrapped by the error of a call that found no keyring it
// can use:
//
//   - on Linux and the BSDs, no D-Bus session bus, a session bus on which
//     nothing provides the Secret Service (org.freedesktop.secrets), or a
//     Secret Service whose default collection stays locked (its unlock
//     prompt was dismissed, or could not be shown);
//   - on Windows, no logon session with a Credential Manager (a service
//     running as a system account);
//   - on macOS, no security tool to reach the Keychain with;
//   - on any other system, always: go-keyring supports none.
//
// A Store fails closed: it never writes the record anywhere else instead.
// A program that wants a fallback chooses it, on errors.Is(err,
// ErrNoKeyring), as the package documentation shows. A keyring that is
// there but does not answer is not ErrNoKeyring: the call ends with its
// ctx. The message names no package, as the error is always wrapped in a
// [*tokensource.StoreError], which does.
var ErrNoKeyring = errors.New("no keyring is available")

// classify returns err, from go-keyring, wrapped with ErrNoKeyring when it
// says that there is no keyring to use; [keyring.ErrNotFound] and other
// errors come back as they are.
func classify(err error) error {
	switch {
	case err == nil, errors.Is(err, keyring.ErrNotFound), errors.Is(err, ErrNoKeyring):
		return err
	case errors.Is(err, keyring.ErrUnsupportedPlatform), platformNoKeyring(err):
		return noKeyring(err)
	}
	return err
}

// noKeyring returns err, why there is no keyring, wrapped with
// ErrNoKeyring.
func noKeyring(err error) error { return fmt.Errorf("%w: %w", ErrNoKeyring, err) }

// damaged is the cause of a load whose index names chunks that are not
// there or do not match it, or that cannot be read as an index: the
// record is corrupt. A write of this package never leaves one (its chunks
// are written before the index that names them, and deleted after the
// index that named them was replaced); a program or a person that edits
// the keyring may. It wraps [tokensource.ErrCorrupt], and quotes nothing
// stored.
type damaged struct {
	index string // the index value, which a Save or Delete replaces only if it still holds it
	why   string
}

func (e *damaged) Error() string { return "the stored record is corrupt: " + e.why }

// Is makes a damaged record [tokensource.ErrCorrupt].
func (e *damaged) Is(target error) bool { return target == tokensource.ErrCorrupt }

// errChanging is the cause of a load that found the record replaced under
// it again and again, readAttempts times.
var errChanging = errors.New("the record kept changing while it was read")
