package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/pgstore"
	"github.com/oauthkit/tokensource/redisstore"
	"github.com/redis/go-redis/v9"
)

// storeTimeout bounds connecting to a store server, and the Delete at exit.
const storeTimeout = 15 * time.Second

// quietRedis drops go-redis's log lines, such as each failed dial: the
// demo reports the error they lead to.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

// storeURL is the -store flag: empty for the file store, or the URL of a
// Redis or PostgreSQL server, checked but not yet dialled. The demo prints
// what it parsed, never the URL, which may hold a password.
type storeURL struct {
	raw   string
	redis *redis.Options
	pg    *pgxpool.Config
}

// parseStoreURL checks the -store flag raw, without dialling. Its errors
// never quote the URL.
func parseStoreURL(raw string) (storeURL, error) {
	u := storeURL{raw: raw}
	var err error
	switch scheme, _, _ := strings.Cut(raw, "://"); scheme {
	case "":
		return u, nil
	case "redis", "rediss", "unix":
		u.redis, err = redis.ParseURL(raw)
	case "postgres", "postgresql":
		u.pg, err = pgxpool.ParseConfig(raw)
	default:
		return u, errors.New("-store wants a URL: redis://host:port/db or postgres://…")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // without the URL it quotes, password included
	}
	if err != nil {
		return u, fmt.Errorf("-store: %w", err)
	}
	return u, nil
}

// server names the server u points to, without a password.
func (u storeURL) server() string {
	if u.redis != nil {
		return fmt.Sprintf("Redis at %s, db %d", u.redis.Addr, u.redis.DB)
	}
	c := u.pg.ConnConfig
	return fmt.Sprintf("PostgreSQL at %s:%d, database %s", c.Host, c.Port, c.Database)
}

// newKey returns a key no other run of the demo uses, so that runs
// against one server do not share a token.
func newKey() string {
	return "tokensource-demo-" + strings.ToLower(rand.Text()[:10])
}

// tokenStore is what FileStore, redisstore.Store and pgstore.Store all are:
// a Store whose lock makes processes refresh one at a time, with a log-out.
type tokenStore interface {
	tokensource.Store
	tokensource.Locker
	Delete(ctx context.Context) error
}

// store is where one process of the demo keeps the token: the file, or a
// key in Redis or PostgreSQL.
type store struct {
	name  string // for the header: the file, or the server and key
	where string // for the events: "the token file", …
	// open returns a new Store on the token, as a program makes one at
	// start-up.
	open  func() tokenStore
	close func()
}

// openStore connects to the server u names, if any, and returns the store
// of key there: a file path for the file store.
func openStore(u storeURL, key string) (*store, error) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	switch {
	case u.redis != nil:
		client := redis.NewClient(u.redis)
		if err := client.Ping(ctx).Err(); err != nil {
			client.Close()
			return nil, fmt.Errorf("%s: %w", u.server(), err)
		}
		return &store{
			name:  fmt.Sprintf("%s, key %s", u.server(), key),
			where: "the Redis key",
			open:  func() tokenStore { return redisstore.New(client, key, nil) },
			close: func() { client.Close() },
		}, nil
	case u.pg != nil:
		pool, err := pgxpool.NewWithConfig(ctx, u.pg)
		if err == nil {
			err = pgstore.CreateTable(ctx, pool, nil)
		}
		if err != nil {
			if pool != nil {
				pool.Close()
			}
			return nil, fmt.Errorf("%s: %w", u.server(), err)
		}
		return &store{
			name:  fmt.Sprintf("%s, table %s, key %s", u.server(), pgstore.DefaultTable, key),
			where: "the PostgreSQL row",
			open:  func() tokenStore { return pgstore.New(pool, key, nil) },
			close: pool.Close,
		}, nil
	}
	return &store{
		name:  "file " + key,
		where: "the token file",
		open:  func() tokenStore { return tokensource.NewFileStore(key) },
		close: func() {},
	}, nil
}

// delete removes the token from the store.
func (s *store) delete() error {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	return s.open().Delete(ctx)
}
