package pgstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// The environment that points the tests at servers (scripts/services.sh
// sets it).
const (
	urlEnv     = "TOKENSOURCE_POSTGRES_URL"    // a database to create tables in
	requireEnv = "TOKENSOURCE_REQUIRE_SERVERS" // "1": a missing server fails the tests
	pgBinEnv   = "TOKENSOURCE_PG_BIN"          // the directory of initdb and pg_ctl
	howToRun   = "run scripts/test, which starts a throwaway PostgreSQL cluster, or set " + urlEnv + " to a database URL"
)

// serverURL returns the URL of the database to test against.
func serverURL(t testing.TB) string {
	t.Helper()
	return needEnv(t, urlEnv, "no PostgreSQL server")
}

// needEnv returns the environment variable name. When it is not set, it
// skips t, saying why, or fails it when the servers are required (under CI).
func needEnv(t testing.TB, name, why string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%s is not set, and %s=1", name, requireEnv)
		}
		t.Skipf("%s: %s", why, howToRun)
	}
	return v
}

// newPool returns a pool on url, closed when t ends. configure, if not nil,
// adjusts its configuration.
func newPool(t testing.TB, url string, configure func(*pgxpool.Config)) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	if configure != nil {
		configure(cfg)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// testPool returns a pool on the test server, closed when t ends.
func testPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return newPool(t, serverURL(t), nil)
}

// newTable creates a table of t's own and returns the Options that name
// it; the table is dropped when t ends.
func newTable(t testing.TB, pool *pgxpool.Pool) *Options {
	t.Helper()
	name := strings.ToLower(regexp.MustCompile(`[^A-Za-z0-9]+`).ReplaceAllString(t.Name(), "_"))
	opts := &Options{Table: fmt.Sprintf("t_%.40s_%08x", name, rand.Uint32())}
	if err := CreateTable(context.Background(), pool, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dropTable(t, pool, opts) })
	return opts
}

// savedStore returns a Store with the key "k" in a table of t's own, that
// holds fullToken(access).
func savedStore(t testing.TB, access string) (*pgxpool.Pool, *Options, *Store) {
	t.Helper()
	pool := testPool(t)
	opts := newTable(t, pool)
	s := New(pool, "k", opts)
	if err := s.Save(context.Background(), fullToken(access)); err != nil {
		t.Fatal(err)
	}
	return pool, opts, s
}

// wantStored fails t unless the key "k" of opts holds the access token
// want, read through a Store of its own.
func wantStored(t testing.TB, pool *pgxpool.Pool, opts *Options, want string) {
	t.Helper()
	if got, err := New(pool, "k", opts).Load(context.Background()); err != nil || got.AccessToken != want {
		t.Errorf("stored: %v, %v; want the token %q", got, err, want)
	}
}

func dropTable(t testing.TB, pool *pgxpool.Pool, opts *Options) {
	if _, err := pool.Exec(context.Background(), "DROP TABLE IF EXISTS "+opts.ident()); err != nil {
		t.Errorf("dropping %s: %v", opts.ident(), err)
	}
}

// waitFor polls cond until it holds. The deadline only catches a hang.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// session is a PostgreSQL session with a stake in a Store's lock.
type session struct {
	PID     int32
	App     string // its application_name
	Granted bool   // holds the lock; false: waits for it
}

// lockSessions returns the sessions that hold or wait for s's lock.
func lockSessions(t testing.TB, pool *pgxpool.Pool, s *Store) []session {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT l.pid, a.application_name, l.granted
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.classid = $1::int4::oid AND l.objid = $2::int4::oid AND l.objsubid = 2`,
		s.lock[0], s.lock[1])
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []session
	for rows.Next() {
		var se session
		if err := rows.Scan(&se.PID, &se.App, &se.Granted); err != nil {
			t.Fatal(err)
		}
		out = append(out, se)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waiting returns how many sessions wait for s's lock.
func waiting(t testing.TB, pool *pgxpool.Pool, s *Store) int {
	n := 0
	for _, se := range lockSessions(t, pool, s) {
		if !se.Granted {
			n++
		}
	}
	return n
}

// lockFree reports whether another session could take s's lock now.
func lockFree(t testing.TB, pool *pgxpool.Pool, s *Store) bool {
	t.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1, $2)`, s.lock[0], s.lock[1]).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got {
		if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1, $2)`, s.lock[0], s.lock[1]); err != nil {
			t.Fatal(err)
		}
	}
	return got
}
