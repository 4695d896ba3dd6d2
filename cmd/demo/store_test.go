package main

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/pgstore"
	"github.com/oauthkit/tokensource/redisstore"
	"github.com/redis/go-redis/v9"
)

// The environment that points the tests at servers; scripts/services.sh
// sets it up.
const (
	redisEnv    = "TOKENSOURCE_REDIS_ADDR"      // host:port of a redis-server
	postgresEnv = "TOKENSOURCE_POSTGRES_URL"    // postgres://… URL of a database
	requireEnv  = "TOKENSOURCE_REQUIRE_SERVERS" // "1": a missing server fails the tests
)

// serverEnv returns the environment variable name. When it is not set, it
// skips t saying how to run it, or fails t under TOKENSOURCE_REQUIRE_SERVERS=1.
func serverEnv(t *testing.T, name, form string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%s is not set, and %s=1", name, requireEnv)
		}
		t.Skipf("%s is not set: run scripts/test, which starts throwaway servers, or set it to %s", name, form)
	}
	return v
}

// storeKey returns the key the demo printed in its header.
func storeKey(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  store       .*, key (\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no key in the output:\n%s", out)
	}
	return m[1]
}

// testStore runs the demo on the server at url twice: by default, which
// deletes the token at exit, then with -keep, which keeps it where open
// finds it, under a key of its own.
func testStore(t *testing.T, url string, open func(key string) tokenStore) {
	code, out := runDemo(t, "-store="+url, "-duration=1500ms", "-lifetime=1s", "-workers=8", "-v")
	checkSuccess(t, code, out)
	if !strings.Contains(out, "deleted at exit; -keep keeps it") {
		t.Errorf("the report does not say the token is deleted:\n%s", out)
	}
	deleted := storeKey(t, out)
	if _, err := open(deleted).Load(t.Context()); !errors.Is(err, tokensource.ErrNotFound) {
		t.Errorf("the token was not deleted at exit: Load = %v, want ErrNotFound", err)
	}

	code, out = runDemo(t, "-store="+url, "-keep", "-duration=1s", "-lifetime=1s", "-workers=4", "-v")
	checkSuccess(t, code, out)
	if !strings.Contains(out, "kept (-keep)") {
		t.Errorf("the report does not say the token is kept:\n%s", out)
	}
	key := storeKey(t, out)
	if key == deleted {
		t.Errorf("two runs used the key %s", key)
	}
	s := open(key)
	// The demo ends with a log-out: what is kept is its tombstone.
	if _, err := s.Load(t.Context()); !errors.Is(err, tokensource.ErrLoggedOut) {
		t.Errorf("the record is not kept: Load = %v, want the log-out's tombstone", err)
	}
	if err := s.Delete(t.Context()); err != nil {
		t.Error(err)
	}
}

func TestDemoRedisStore(t *testing.T) {
	addr := serverEnv(t, redisEnv, "host:port")
	client := redis.NewClient(&redis.Options{Addr: addr})
	defer client.Close()
	testStore(t, "redis://"+addr+"/0", func(key string) tokenStore {
		return redisstore.New(client, key, nil)
	})
}

func TestDemoPostgresStore(t *testing.T) {
	url := serverEnv(t, postgresEnv, "a postgres://… URL")
	pool, err := pgxpool.New(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	testStore(t, url, func(key string) tokenStore {
		return pgstore.New(pool, key, nil)
	})
}

// TestDemoStoreErrorsHidePassword checks that a -store URL that cannot be
// parsed, or whose server cannot be reached, is named in the error without
// its password.
func TestDemoStoreErrorsHidePassword(t *testing.T) {
	for _, tc := range []struct {
		url  string
		code int
	}{
		{"redis://u:sekrit@localhost:notaport/0", 2},
		{"redis://u:sekrit@localhost:6379/notadb", 2},
		{"postgres://u:sekrit@localhost:notaport/db", 2},
		{"redis://u:sekrit@127.0.0.1:1/0", 1},     // nothing listens on port 1
		{"postgres://u:sekrit@127.0.0.1:1/db", 1}, // likewise
	} {
		var out syncBuffer
		code := run([]string{"-store=" + tc.url}, &out, &out)
		if code != tc.code {
			t.Errorf("-store=%s: status %d, want %d; output:\n%s", tc.url, code, tc.code, out.String())
		}
		if strings.Contains(out.String(), "sekrit") {
			t.Errorf("-store=%s: the output shows the password:\n%s", tc.url, out.String())
		}
		where := "-store"
		if tc.code == 1 {
			where = "127.0.0.1:1"
		}
		if !strings.Contains(out.String(), where) {
			t.Errorf("-store=%s: the error does not name %s:\n%s", tc.url, where, out.String())
		}
	}
}
