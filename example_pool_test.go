package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// A backend that calls an API for many accounts keeps one Source per
// account in a Pool, each on the account's own store: here a MemoryStore
// per account, in production the account's key in a database that every
// replica shares (a Store that is a Locker, so that the replicas refresh one
// at a time).
func ExamplePool() {
	clock := tokensourcetest.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now})
	defer srv.Close()
	ctx := context.Background()
	conf := srv.Config()

	// The accounts' tokens, saved when each customer connected the API.
	stores := map[string]*tokensource.MemoryStore{}
	for _, account := range []string{"acme", "globex"} {
		stores[account] = tokensource.NewMemoryStore()
		if err := stores[account].Save(ctx, srv.Login()); err != nil {
			log.Fatal(err)
		}
	}
	pool := tokensource.NewPool(func(account string) *tokensource.Source {
		return tokensource.FromConfig(ctx, conf, stores[account], &tokensource.Options{Now: clock.Now})
	}, &tokensource.PoolOptions{IdleTimeout: 24 * time.Hour, Now: clock.Now})

	// call is what a request handler does for an account: Get its Source
	// for each use.
	call := func(account string) {
		resp, err := tokensource.NewClient(ctx, pool.Get(account)).Get(srv.ResourceURL())
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(account, resp.Status)
	}
	call("acme")
	call("globex")
	clock.Advance(2 * time.Hour) // both tokens expire: each account refreshes its own
	call("acme")
	call("globex")
	fmt.Println("refreshes:", srv.Stats().Refreshes)

	// globex disconnects: its token leaves the store, and its Source the Pool.
	if err := stores["globex"].Save(ctx, nil); err != nil {
		log.Fatal(err)
	}
	pool.Delete("globex")
	_, err := pool.Get("globex").Token()
	fmt.Println("globex must log in again:", errors.Is(err, tokensource.ErrReauthRequired))
	// Output:
	// acme 200 OK
	// globex 200 OK
	// acme 200 OK
	// globex 200 OK
	// refreshes: 2
	// globex must log in again: true
}
