package storetest

import (
	"crypto/rand"
	"testing"

	"github.com/oauthkit/tokensource"
)

// NewEncrypter returns an AES-GCM [tokensource.Encrypter] with a random
// key, for the tests of a store that encrypts its record.
func NewEncrypter(t testing.TB) tokensource.Encrypter {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	enc, err := tokensource.NewAESGCM(key)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}
