package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/redisstore"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// The examples run against the Redis server at TOKENSOURCE_REDIS_ADDR, and
// are skipped when it is not set (see TestMain). A program names its own.
var redisAddr = os.Getenv("TOKENSOURCE_REDIS_ADDR")

// A Source keeps its token in Redis: save the user's login there, and the
// Source refreshes it from there, under the Store's lock.
func Example() {
	ctx := context.Background()
	srv := tokensourcetest.NewServer(nil) // stands in for the provider
	defer srv.Close()

	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer client.Close()
	store := redisstore.New(client, "example:account-42", nil)
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
	fmt.Println(store.TokenKey(), store.LockKey())
	// Output:
	// 200 OK
	// {example:account-42}:token {example:account-42}:lock
}

// Replicas share a grant through one key. When the token expires, the first
// to need it refreshes it; the other finds the new token in Redis and
// takes it instead of refreshing.
func Example_replicas() {
	ctx := context.Background()
	clock := tokensourcetest.NewClock(time.Now()) // to expire the token at once
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now})
	defer srv.Close()

	// Each replica, in a process of its own, has a client and a Store.
	clientA := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer clientA.Close()
	clientB := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer clientB.Close()
	storeA := redisstore.New(clientA, "example:replicas", nil)
	storeB := redisstore.New(clientB, "example:replicas", nil)
	opts := &tokensource.Options{Now: clock.Now}
	a := tokensource.FromConfig(ctx, srv.Config(), storeA, opts)
	b := tokensource.FromConfig(ctx, srv.Config(), storeB, opts)

	if err := storeA.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}
	a.Token() // both replicas load the login token
	b.Token()
	clock.Advance(2 * time.Hour) // and it expires

	tokA, errA := a.Token() // a refreshes
	tokB, errB := b.Token() // b takes a's token
	if err := errors.Join(errA, errB); err != nil {
		log.Fatal(err)
	}
	fmt.Println("same token:", tokA.AccessToken == tokB.AccessToken)
	fmt.Println("refreshes:", srv.Stats().Refreshes)
	fmt.Println("taken from Redis by b:", b.Stats().Adopted)
	// Output:
	// same token: true
	// refreshes: 1
	// taken from Redis by b: 1
}

// Delete logs the user out: it replaces the record with a tombstone, and
// every replica asks for a new login.
func ExampleStore_Delete() {
	ctx := context.Background()
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer client.Close()
	store := redisstore.New(client, "example:logout", nil)
	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}

	if err := store.Delete(ctx); err != nil {
		log.Fatal(err)
	}
	_, err := store.Load(ctx)
	fmt.Println(errors.Is(err, tokensource.ErrNotFound))
	src := tokensource.FromConfig(ctx, srv.Config(), store, nil)
	_, err = src.Token()
	fmt.Println(errors.Is(err, tokensource.ErrReauthRequired))
	// Output:
	// true
	// true
}
