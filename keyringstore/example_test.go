package keyringstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/keyringstore"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// A Source keeps its token in the keyring of the OS: save the user's
// login there, and the Source refreshes it from there, under the Store's
// lock. (The examples run against the keyring of the tests, a
// gnome-keyring of their own.)
func Example() {
	ctx := context.Background()
	srv := tokensourcetest.NewServer(nil) // stands in for the provider
	defer srv.Close()

	store := keyringstore.New("example-app", "alice@example.com", nil)
	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}

	src := tokensource.FromConfig(ctx, srv.Config(), store, nil)
	resp, err := tokensource.NewClient(ctx, src).Get(srv.ResourceURL())
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	fmt.Println(store.Where())
	// Output:
	// 200 OK
	// keyring service "example-app" user "alice@example.com"
}

// Delete logs the user out: it replaces the record with a tombstone,
// and deletes the token from the keyring.
func ExampleStore_Delete() {
	ctx := context.Background()
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	store := keyringstore.New("example-app", "bob@example.com", nil)
	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}

	if err := store.Delete(ctx); err != nil {
		log.Fatal(err)
	}
	_, err := store.Load(ctx)
	fmt.Println(errors.Is(err, tokensource.ErrLoggedOut))
	src := tokensource.FromConfig(ctx, srv.Config(), store, nil)
	_, err = src.Token()
	fmt.Println(errors.Is(err, tokensource.ErrReauthRequired))
	// Output:
	// true
	// true
}
