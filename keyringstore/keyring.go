package keyringstore

import "github.com/zalando/go-keyring"

// provider is the keyring as a Store uses it: one item per service and
// user, holding a string. Its errors wrap [keyring.ErrNotFound] when there
// is no such item, and [ErrNoKeyring] when there is no keyring. A call
// cannot be interrupted; the Store bounds it (see bounded). Tests replace
// it to make calls fail.
type provider interface {
	Get(service, user string) (string, error)
	Set(service, user, value string) error
	Delete(service, user string) error
}

// osKeyring is the keyring of the OS, through go-keyring: the Secret
// Service on Linux and the BSDs, the Credential Manager on Windows, the
// Keychain on macOS.
type osKeyring struct{}

func (osKeyring) Get(service, user string) (string, error) {
	if err := probe(); err != nil {
		return "", err
	}
	v, err := keyring.Get(service, user)
	return v, classify(err)
}

func (osKeyring) Set(service, user, value string) error {
	if err := probe(); err != nil {
		return err
	}
	return classify(keyring.Set(service, user, value))
}

func (osKeyring) Delete(service, user string) error {
	if err := probe(); err != nil {
		return err
	}
	return classify(keyring.Delete(service, user))
}
