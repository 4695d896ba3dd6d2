package tokensource

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// An Encrypter encrypts the records a store keeps, so that a dump of the
// store, a backup or a read-only role reveals no token. Its method set is
// that of *secrets.Keeper of gocloud.dev/secrets, so that a key in AWS KMS,
// GCP KMS, Azure Key Vault or HashiCorp Vault transit plugs in unchanged;
// [NewAESGCM] keeps the keys in the process.
//
// Decrypt must fail for ciphertext that was tampered with or encrypted
// under a key it does not hold. An Encrypter must be safe for concurrent
// use.
type Encrypter interface {
	Encrypt(ctx context.Context, plaintext []byte) ([]byte, error)
	Decrypt(ctx context.Context, ciphertext []byte) ([]byte, error)
}

// aesGCMVersion is the first byte of what [NewAESGCM]'s Encrypter writes.
const aesGCMVersion = 1

// keyIDLen is the length of the key identifier in each ciphertext: the
// first bytes of the key's SHA-256, which name the key without revealing
// it.
const keyIDLen = 4

// NewAESGCM returns an Encrypter that seals with AES-256-GCM, a random
// nonce per record. Each key is 32 bytes. The first key encrypts; every key
// decrypts, so that rotating a key is putting the new one first: records
// sealed under an old key still load, and are sealed under the new one at
// their next save. Each ciphertext is a version byte, an identifier of its
// key, the nonce and the sealed bytes.
func NewAESGCM(keys ...[]byte) (Encrypter, error) {
	if len(keys) == 0 {
		return nil, errors.New("tokensource: NewAESGCM needs a key")
	}
	e := &aesGCM{}
	for i, k := range keys {
		if len(k) != 32 {
			return nil, fmt.Errorf("tokensource: NewAESGCM: key %d has %d bytes, want 32", i, len(k))
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(k)
		e.keys = append(e.keys, gcmKey{id: [keyIDLen]byte(sum[:keyIDLen]), aead: aead})
	}
	return e, nil
}

type aesGCM struct{ keys []gcmKey }

type gcmKey struct {
	id   [keyIDLen]byte
	aead cipher.AEAD
}

func (e *aesGCM) Encrypt(_ context.Context, plaintext []byte) ([]byte, error) {
	k := e.keys[0]
	out := make([]byte, 1+keyIDLen+k.aead.NonceSize(), 1+keyIDLen+k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	out[0] = aesGCMVersion
	copy(out[1:], k.id[:])
	nonce := out[1+keyIDLen:]
	rand.Read(nonce)
	// The header is authenticated too: a ciphertext moved to another key
	// identifier, or version, does not open.
	return k.aead.Seal(out, nonce, plaintext, out[:1+keyIDLen]), nil
}

func (e *aesGCM) Decrypt(_ context.Context, ciphertext []byte) ([]byte, error) {
	if len(ciphertext) < 1+keyIDLen || ciphertext[0] != aesGCMVersion {
		return nil, errors.New("not a ciphertext of this format")
	}
	id := [keyIDLen]byte(ciphertext[1 : 1+keyIDLen])
	for _, k := range e.keys {
		if k.id != id {
			continue
		}
		n := k.aead.NonceSize()
		if len(ciphertext) < 1+keyIDLen+n {
			break
		}
		header, nonce, sealed := ciphertext[:1+keyIDLen], ciphertext[1+keyIDLen:1+keyIDLen+n], ciphertext[1+keyIDLen+n:]
		if plain, err := k.aead.Open(nil, nonce, sealed, header); err == nil {
			return plain, nil
		}
	}
	return nil, errors.New("no key opens it: a wrong key, or tampered with")
}
