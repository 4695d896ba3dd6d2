package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// Log-out deletes the token file under its lock, so that a refresh running
// in any process cannot write the token back. A Source keeps its cached
// token until it needs the store again; then it finds nothing to refresh
// with.
func ExampleFileStore_Delete() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	dir, err := os.MkdirTemp("", "tokensource-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	store := tokensource.NewFileStore(filepath.Join(dir, "token.json"))
	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), store, nil)
	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}

	if err := store.Delete(ctx); err != nil {
		log.Fatal(err)
	}
	_, err = src.Token()
	fmt.Println("cached token still served:", err == nil)
	src.Invalidate(tok) // a server rejected it: the Source loads the store
	_, err = src.Token()
	fmt.Println("re-authentication required:", errors.Is(err, tokensource.ErrReauthRequired))
	// Output:
	// cached token still served: true
	// re-authentication required: true
}
