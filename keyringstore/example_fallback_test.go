package keyringstore_test

import (
	"context"
	"encoding/base64"
	"errors"
	"log"
	"os"
	"path/filepath"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/keyringstore"
)

// tokenKeyEnv names the variable that holds the key of the fallback file,
// in base64: 32 bytes that the program gets from somewhere safer than
// the disk (a secret of its deployment, a KMS).
const tokenKeyEnv = "EXAMPLE_APP_TOKEN_KEY"

// tokenStore returns the keyring's Store for account, or, where there is
// no keyring (a server, a container, a CI job), a file whose record is
// encrypted with the key in tokenKeyEnv. A Store never falls back on its
// own: the first call tells whether there is a keyring, with an error
// wrapping ErrNoKeyring, and the program chooses. Here it refuses to go
// on without a key rather than keep the token in plain text.
func tokenStore(ctx context.Context, account string) (tokensource.Store, error) {
	store := keyringstore.New("example-app", account, nil)
	_, err := store.Load(ctx)
	if err == nil || errors.Is(err, tokensource.ErrNotFound) {
		return store, nil // the keyring works; it may hold nothing yet
	}
	if !errors.Is(err, keyringstore.ErrNoKeyring) {
		return nil, err // a keyring that failed, or did not answer in time
	}
	key, err := base64.StdEncoding.DecodeString(os.Getenv(tokenKeyEnv))
	if err != nil || len(key) == 0 {
		return nil, errors.New("no keyring, and no " + tokenKeyEnv + " to encrypt the token file with")
	}
	enc, err := tokensource.NewAESGCM(key)
	if err != nil {
		return nil, err
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "example-app", account+".token")
	return tokensource.NewFileStoreWith(path, &tokensource.FileStoreOptions{Encrypter: enc, RequireEncryption: true}), nil
}

// Where there may be no keyring, a program falls back deliberately, to an
// encrypted file.
func Example_fallback() {
	ctx := context.Background()
	store, err := tokenStore(ctx, "alice@example.com")
	if err != nil {
		log.Fatal(err)
	}
	conf := &oauth2.Config{ClientID: "example-app", Endpoint: oauth2.Endpoint{TokenURL: "https://auth.example.com/token"}}
	src := tokensource.FromConfig(ctx, conf, store, nil)
	_ = src // src.Token(), or tokensource.NewClient(ctx, src)
}
