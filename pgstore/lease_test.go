package pgstore

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/oauthkit/tokensource"
)

// TestKilledSessionLosesTheLease terminates the session of a held lease:
// Lost is closed at once, and another Store takes the lock.
func TestKilledSessionLosesTheLease(t *testing.T) {
	pool := testPool(t)
	opts := newTable(t, pool)
	s := New(pool, "k", opts)
	ctx := context.Background()
	l, err := s.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	sessions := lockSessions(t, pool, s)
	if len(sessions) != 1 {
		t.Fatalf("sessions on the lock: %+v", sessions)
	}
	killed := time.Now()
	if _, err := pool.Exec(ctx, "SELECT pg_terminate_backend($1)", sessions[0].PID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
		t.Logf("Lost closed %v after pg_terminate_backend", time.Since(killed))
	case <-time.After(time.Second):
		t.Fatal("Lost not closed a second after the session was terminated")
	}
	next, cancel := context.WithTimeout(ctx, time.Minute) // only catches a hang
	defer cancel()
	l2, err := New(pool, "k", opts).Lease(next)
	if err != nil {
		t.Fatal(err)
	}
	l2.Release()
}

// silentServer is a listener that accepts connections and never answers.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "postgres://tokensource@" + ln.Addr().String() + "/postgres?sslmode=disable"
}

// TestCallsReturnByTheirDeadline calls every method of a Store on a server
// that accepts connections and never answers: each returns within 100 ms
// of its context's deadline, with an error that wraps it.
func TestCallsReturnByTheirDeadline(t *testing.T) {
	url := silentServer(t)
	pool := newPool(t, url, func(c *pgxpool.Config) { c.MinConns = 0 })
	s := New(pool, "k", nil)
	const deadline = 200 * time.Millisecond
	calls := map[string]func(ctx context.Context) error{
		"Get":    func(ctx context.Context) error { _, err := s.Get(ctx); return err },
		"Put":    func(ctx context.Context) error { return s.Put(ctx, nil, []byte("{}")) },
		"Load":   func(ctx context.Context) error { _, err := s.Load(ctx); return err },
		"Save":   func(ctx context.Context) error { return s.Save(ctx, fullToken("a")) },
		"Delete": func(ctx context.Context) error { return s.Delete(ctx) },
		"Lease":  func(ctx context.Context) error { _, err := s.Lease(ctx); return err },
		"Lock":   func(ctx context.Context) error { _, err := s.Lock(ctx); return err },
	}
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		start := time.Now()
		err := call(ctx)
		took := time.Since(start)
		cancel()
		if err == nil || took > deadline+100*time.Millisecond {
			t.Errorf("%s: %v after %v; want an error by %v", name, err, took, deadline+100*time.Millisecond)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: %v, want it to wrap DeadlineExceeded", name, err)
		}
		var se *tokensource.StoreError
		if !errors.As(err, &se) {
			t.Errorf("%s: %T, want a *tokensource.StoreError", name, err)
		}
	}
}

// lateContext is a context whose deadline has passed and whose timer has
// not yet fired: what a dial that timed out at the deadline can see.
type lateContext struct{ context.Context }

func (lateContext) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }

// TestLockErrorWrapsAPassedDeadline: a lease that fails once its deadline
// has passed wraps DeadlineExceeded, even before the context says so.
func TestLockErrorWrapsAPassedDeadline(t *testing.T) {
	s := &Store{where: "table t key \"k\""}
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("i/o timeout")}
	err := s.lockError(lateContext{context.Background()}, dial)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, dial) {
		t.Errorf("lockError: %v, want it to wrap DeadlineExceeded and the dial's error", err)
	}
	if err := s.lockError(context.Background(), dial); errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("lockError without a deadline: %v, want no DeadlineExceeded", err)
	}
}
