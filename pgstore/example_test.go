package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/pgstore"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// Every replica of a service keeps its token in the same table, under the
// account's key; the lease makes them refresh one at a time. The example
// needs a PostgreSQL database: scripts/test starts one and sets
// TOKENSOURCE_POSTGRES_URL.
func Example() {
	ctx := context.Background()
	url := os.Getenv("TOKENSOURCE_POSTGRES_URL")
	if url == "" {
		fmt.Println("TOKENSOURCE_POSTGRES_URL is not set")
		return
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	if err := pgstore.CreateTable(ctx, pool, nil); err != nil {
		fmt.Println(err)
		return
	}
	// The authorization server; in a program, the provider's.
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()

	// The user logs in once, on any replica: save the first token.
	store := pgstore.New(pool, "account-42", nil)
	if err := store.Save(ctx, srv.Login()); err != nil {
		fmt.Println(err)
		return
	}

	src := tokensource.FromConfig(ctx, srv.Config(), store, nil)
	client := tokensource.NewClient(ctx, src)
	resp, err := client.Get(srv.ResourceURL())
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status)

	// Log out: a tombstone, which no replica's refresh overwrites.
	if err := store.Delete(ctx); err != nil {
		fmt.Println(err)
		return
	}
	_, err = store.Load(ctx)
	fmt.Println(errors.Is(err, tokensource.ErrNotFound))
	// Output:
	// 200 OK
	// true
}
