package examples_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"gocloud.dev/secrets/localsecrets"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// A gocloud.dev/secrets Keeper is a tokensource.Encrypter as it is: the
// token file below is sealed by localsecrets, and the same code takes a
// key in AWS KMS, GCP KMS, Azure Key Vault or Vault transit through the
// Keeper of their drivers (secrets.OpenKeeper with their URLs).
func Example_secretsKeeper() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx := context.Background()
	key, err := localsecrets.NewRandomKey()
	if err != nil {
		log.Fatal(err)
	}
	keeper := localsecrets.NewKeeper(key)
	defer keeper.Close()

	dir, err := os.MkdirTemp("", "tokensource-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "token.json")
	store := tokensource.NewFileStoreWith(path, &tokensource.FileStoreOptions{Encrypter: keeper})
	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), store, nil)
	tok, err := src.Refresh(ctx)
	if err != nil {
		log.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the file shows the refresh token:", bytes.Contains(data, []byte(tok.RefreshToken)))
	_, err = tokensource.NewFileStore(path).Load(ctx)
	fmt.Println("read without the key:", err != nil)
	// Output:
	// the file shows the refresh token: false
	// read without the key: true
}
