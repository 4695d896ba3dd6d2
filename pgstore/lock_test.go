package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"
)

// counter is a row that detects two holders of a lock at once: enter
// counts the holders inside, and its total is incremented by a read and a
// write apart, so that overlapping holders lose increments.
type counter struct {
	pool  *pgxpool.Pool
	table string
}

func newCounter(t testing.TB, pool *pgxpool.Pool) *counter {
	t.Helper()
	c := &counter{pool: pool, table: (&Options{Table: newTable(t, pool).Table + "_counter"}).ident()}
	if _, err := pool.Exec(context.Background(), "CREATE TABLE "+c.table+" (inside int, total int); INSERT INTO "+c.table+" VALUES (0, 0)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Exec(context.Background(), "DROP TABLE "+c.table) })
	return c
}

// critical runs one critical section; it fails if another holder is inside.
func (c *counter) critical(ctx context.Context) error {
	var inside, total int
	if err := c.pool.QueryRow(ctx, "UPDATE "+c.table+" SET inside = inside + 1 RETURNING inside").Scan(&inside); err != nil {
		return err
	}
	if err := c.pool.QueryRow(ctx, "SELECT total FROM "+c.table).Scan(&total); err != nil {
		return err
	}
	if _, err := c.pool.Exec(ctx, "UPDATE "+c.table+" SET total = $1, inside = inside - 1", total+1); err != nil {
		return err
	}
	if inside != 1 {
		return fmt.Errorf("%d holders inside the lock at once", inside)
	}
	return nil
}

func (c *counter) total(t testing.TB) int {
	var n int
	if err := c.pool.QueryRow(context.Background(), "SELECT total FROM "+c.table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestLockExcludesWithinAProcess: goroutines locking through one Store and
// through Stores of their own take turns.
func TestLockExcludesWithinAProcess(t *testing.T) {
	url := serverURL(t)
	pool := newPool(t, url, nil)
	opts := newTable(t, pool)
	c := newCounter(t, newPool(t, url, nil))
	shared := New(pool, "k", opts)
	const goroutines, rounds = 8, 25
	var wg sync.WaitGroup
	for g := range goroutines {
		s := shared
		if g%2 == 0 {
			s = New(pool, "k", opts)
		}
		wg.Go(func() {
			ctx := context.Background()
			for range rounds {
				unlock, err := s.Lock(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				err = c.critical(ctx)
				unlock()
				if err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if got := c.total(t); got != goroutines*rounds {
		t.Errorf("total = %d, want %d: holders overlapped", got, goroutines*rounds)
	}
}

// TestLeaseTakesNoPoolConnection: a held lease keeps no connection of the
// application's pool, so loads and saves run on a pool of one connection.
func TestLeaseTakesNoPoolConnection(t *testing.T) {
	pool := newPool(t, serverURL(t), func(c *pgxpool.Config) { c.MaxConns = 1 })
	opts := newTable(t, pool)
	s := New(pool, "k", opts)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // only catches a hang
	defer cancel()
	lease, err := s.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lease.Release()
	if err := s.Save(ctx, fullToken("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if n := pool.Stat().AcquiredConns(); n != 0 {
		t.Errorf("%d pool connections out while the lease is held, want 0", n)
	}
}

func TestUnlockIsIdempotent(t *testing.T) {
	pool := testPool(t)
	opts := newTable(t, pool)
	ctx := context.Background()
	a, b := New(pool, "k", opts), New(pool, "k", opts)
	unlockA, err := a.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unlockA()
	unlockA()
	unlockB, err := b.Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	unlockA() // must not release b's lock
	if lockFree(t, pool, b) {
		t.Error("a's third unlock released the lock b holds")
	}
	unlockB()
	unlockB()
	waitFor(t, "b's lock to be freed in the background", func() bool { return lockFree(t, pool, b) })
}

// TestLockWaitHonoursContext: a waiter gives up when its context ends,
// says where, and leaves nothing held or queued behind.
func TestLockWaitHonoursContext(t *testing.T) {
	pool := testPool(t)
	opts := newTable(t, pool)
	holder, waiter := New(pool, "k", opts), New(pool, "k", opts)
	unlock, err := holder.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := waiter.Lock(ctx)
		done <- err
	}()
	waitFor(t, "the waiter to wait", func() bool { return waiting(t, pool, waiter) == 1 })
	cancel()
	err = <-done
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), opts.Table) {
		t.Errorf("Lock after cancel: %v, want context.Canceled and the table named", err)
	}
	wantPackageOnce(t, err)
	waitFor(t, "the cancelled wait to leave the queue", func() bool { return waiting(t, pool, waiter) == 0 })

	short, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if _, err := waiter.Lock(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Lock with a deadline while held: %v, want context.DeadlineExceeded", err)
	}
}

// TestCancelledWaitNeverLeavesTheLockHeld ends waits about when the lock is
// released, the cancel a little earlier each round, so that some waits are
// granted as their cancel arrives: whatever Lock returns, a failed Lock
// holds nothing, with either way pgx has of ending a query on cancel.
func TestCancelledWaitNeverLeavesTheLockHeld(t *testing.T) {
	url := serverURL(t)
	handlers := map[string]func(*pgconn.PgConn) ctxwatch.Handler{
		"deadline": nil, // pgx's default: the connection is closed
		"cancel request": func(c *pgconn.PgConn) ctxwatch.Handler {
			return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: time.Minute}
		},
	}
	for name, handler := range handlers {
		t.Run(name, func(t *testing.T) {
			pool := newPool(t, url, func(c *pgxpool.Config) {
				c.MaxConns = 4
				if handler != nil {
					c.ConnConfig.BuildContextWatcherHandler = handler
				}
			})
			opts := newTable(t, pool)
			holder, waiter := New(pool, "k", opts), New(pool, "k", opts)
			var granted, failed int
			for i := range 40 {
				unlock, err := holder.Lock(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				defer unlock()
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error)
				var unlockWaiter func()
				go func() {
					var err error
					unlockWaiter, err = waiter.Lock(ctx)
					done <- err
				}()
				waitFor(t, "the waiter to wait", func() bool { return waiting(t, pool, waiter) == 1 })
				go func() {
					time.Sleep(time.Duration(i) * 50 * time.Microsecond)
					cancel()
				}()
				unlock()
				if err := <-done; err == nil {
					granted++
					unlockWaiter()
				} else {
					failed++
				}
				// Whatever happened, the lock must come free: a wait that
				// failed holds nothing.
				next, stop := context.WithTimeout(context.Background(), time.Minute)
				unlockNext, err := holder.Lock(next)
				stop()
				if err != nil {
					t.Fatalf("after a wait that ended with granted=%d failed=%d: %v", granted, failed, err)
				}
				unlockNext()
			}
			t.Logf("%d waits were granted, %d ended by their context", granted, failed)
		})
	}
}
