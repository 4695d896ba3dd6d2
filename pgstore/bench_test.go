package pgstore

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// statementCounter counts the statements a pool runs: one round trip each,
// once pgx has prepared them.
type statementCounter struct{ n atomic.Int64 }

func (c *statementCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *statementCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// benchStores returns the stores to compare: a FileStore, the lock that
// processes on one machine share, and a Store, whose statements are
// counted.
func benchStores(b *testing.B) (stores map[string]tokensource.Store, statements *statementCounter) {
	statements = &statementCounter{}
	pool := newPool(b, serverURL(b), func(c *pgxpool.Config) { c.ConnConfig.Tracer = statements })
	enc, err := tokensource.NewAESGCM(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	encrypted := newTable(b, pool)
	encrypted.Encrypter = enc
	return map[string]tokensource.Store{
		"file":         tokensource.NewFileStore(filepath.Join(b.TempDir(), "token.json")),
		"pg":           New(pool, "k", newTable(b, pool)),
		"pg-encrypted": New(pool, "k", encrypted),
	}, statements
}

// reportStatements reports the statements per op since start.
func reportStatements(b *testing.B, statements *statementCounter, start int64) {
	b.ReportMetric(float64(statements.n.Load()-start)/float64(b.N), "statements/op")
}

// BenchmarkLockLoadSaveUnlock is what a Source does with its store around
// one token request, on PostgreSQL and, as the baseline, in a file; it
// reports the time of each step too.
func BenchmarkLockLoadSaveUnlock(b *testing.B) {
	stores, statements := benchStores(b)
	tok := fullToken("a")
	for _, name := range []string{"file", "pg"} {
		s := stores[name]
		b.Run("store="+name, func(b *testing.B) {
			ctx := context.Background()
			if err := s.Save(ctx, tok); err != nil {
				b.Fatal(err)
			}
			start := statements.n.Load()
			var steps [4]time.Duration // lock, load, save, unlock
			step := func(i int, t0 time.Time) time.Time {
				now := time.Now()
				steps[i] += now.Sub(t0)
				return now
			}
			for b.Loop() {
				t := time.Now()
				unlock, err := s.(tokensource.Locker).Lock(ctx)
				if err != nil {
					b.Fatal(err)
				}
				t = step(0, t)
				if _, err := s.Load(ctx); err != nil {
					b.Fatal(err)
				}
				t = step(1, t)
				if err := s.Save(ctx, tok); err != nil {
					b.Fatal(err)
				}
				t = step(2, t)
				unlock()
				step(3, t)
			}
			for i, unit := range []string{"ns-lock/op", "ns-load/op", "ns-save/op", "ns-unlock/op"} {
				b.ReportMetric(float64(steps[i].Nanoseconds())/float64(b.N), unit)
			}
			if name == "pg" {
				reportStatements(b, statements, start)
			}
		})
	}
}

// BenchmarkSourceRefresh is a forced refresh of a Source, end to end,
// against a tokensourcetest server that rotates refresh tokens, with each
// store; pg-encrypted is pg with an AES-GCM Encrypter, for the refresh cost
// of encryption.
func BenchmarkSourceRefresh(b *testing.B) {
	stores, statements := benchStores(b)
	stores["memory"] = tokensource.NewMemoryStore()
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	for _, name := range []string{"memory", "file", "pg", "pg-encrypted"} {
		s := stores[name]
		b.Run("store="+name, func(b *testing.B) {
			ctx := context.Background()
			if err := s.Save(ctx, srv.Login()); err != nil {
				b.Fatal(err)
			}
			src := tokensource.FromConfig(ctx, srv.Config(), s, nil)
			if _, err := src.Token(); err != nil {
				b.Fatal(err)
			}
			start := statements.n.Load()
			for b.Loop() {
				if _, err := src.Refresh(ctx); err != nil {
					b.Fatal(err)
				}
			}
			if name != "memory" && name != "file" {
				reportStatements(b, statements, start)
			}
		})
	}
}

// BenchmarkLockHandoff measures how long a waiter takes to get the lock
// once its holder releases it: from the call to unlock to the waiter's Lock
// returning, as ns/op. The waiter is another Store, on a connection (or a
// file descriptor) of its own, as another process would be.
func BenchmarkLockHandoff(b *testing.B) {
	url := serverURL(b)
	pool := newPool(b, url, nil)
	opts := newTable(b, pool)
	dir := b.TempDir()
	type pair struct {
		holder, waiter tokensource.Locker
		waiting        func() bool // the waiter waits for the lock
	}
	pg := New(pool, "k", opts)
	pairs := map[string]pair{
		"pg": {pg, New(pool, "k", opts), func() bool { return waiting(b, pool, pg) == 1 }},
		// A FileStore's waiter retries every 10ms, and nothing shows that it
		// waits: release it after a while, at a random point of that cycle.
		"file": {
			tokensource.NewFileStore(filepath.Join(dir, "t")), tokensource.NewFileStore(filepath.Join(dir, "t")),
			func() bool { time.Sleep(time.Millisecond + rand.N(10*time.Millisecond)); return true },
		},
	}
	for _, name := range []string{"file", "pg"} {
		p := pairs[name]
		b.Run("store="+name, func(b *testing.B) {
			ctx := context.Background()
			var total time.Duration
			for b.Loop() {
				unlock, err := p.holder.Lock(ctx)
				if err != nil {
					b.Fatal(err)
				}
				got := make(chan time.Time)
				var unlockWaiter func()
				go func() {
					u, err := p.waiter.Lock(ctx)
					if err != nil {
						b.Error(err)
					}
					unlockWaiter = u
					got <- time.Now()
				}()
				waitFor(b, "the waiter to wait", p.waiting)
				released := time.Now()
				unlock()
				total += (<-got).Sub(released)
				unlockWaiter()
			}
			b.ReportMetric(float64(total.Nanoseconds())/float64(b.N), "ns/op")
		})
	}
}
