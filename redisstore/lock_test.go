package redisstore

import (
	"context"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/tokensource"
)

// hangBound is how long a test waits for something that must happen, before
// it calls it a hang. It is never how long something takes.
const hangBound = 30 * time.Second

func mustLock(t testing.TB, s *Store) (unlock func()) {
	t.Helper()
	unlock, err := lockWithin(s)
	if err != nil {
		t.Fatal(err)
	}
	return unlock
}

// lockWithin locks s, waiting no longer than hangBound; for goroutines
// other than the test's, which must not call t.Fatal.
func lockWithin(s *Store) (unlock func(), err error) {
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	return s.Lock(ctx)
}

// increment adds one to the Redis counter key with a read and a write, so
// that two increments that overlap lose one.
func increment(ctx context.Context, c redis.UniversalClient, key string) error {
	n, err := c.Get(ctx, key).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	runtime.Gosched()
	return c.Set(ctx, key, n+1, 0).Err()
}

// TestLockExcludesWithinProcess has goroutines take the lock of one key
// through one shared Store and through Stores of their own, on clients of
// their own, and checks that no two hold it at once: an in-memory count of
// holders, and a counter in Redis incremented by read and write under the
// lock, which loses increments if two holders overlap.
func TestLockExcludesWithinProcess(t *testing.T) {
	const goroutines, rounds = 20, 10
	ctx := context.Background()
	key := uniqueKey(t)
	shared := New(newClient(t), key, nil)
	counter := key + ":counter"

	var inside atomic.Int64
	var wg sync.WaitGroup
	for g := range goroutines {
		s := shared
		if g%2 == 1 {
			s = New(newClient(t), key, nil)
		}
		wg.Go(func() {
			for range rounds {
				unlock, err := lockWithin(s)
				if err != nil {
					t.Error(err)
					return
				}
				if n := inside.Add(1); n > 1 {
					t.Errorf("%d holders of the lock at once", n)
				}
				if err := increment(ctx, s.client, counter); err != nil {
					t.Error(err)
				}
				inside.Add(-1)
				unlock()
			}
		})
	}
	wg.Wait()
	if got := shared.client.Get(ctx, counter).Val(); got != strconv.Itoa(goroutines*rounds) {
		t.Errorf("counter = %s after %d increments under the lock", got, goroutines*rounds)
	}
}

// TestUnlockIsIdempotent releases a lease twice, and a third time after
// another Store took it: the later calls must leave that Store's lease
// alone.
func TestUnlockIsIdempotent(t *testing.T) {
	client := newClient(t)
	key := uniqueKey(t)
	a, b := New(client, key, nil), New(client, key, nil)
	unlockA := mustLock(t, a)
	unlockA()
	unlockA()
	unlockB := mustLock(t, b)
	defer unlockB()
	unlockA()
	wantHeld(t, New(client, key, nil))
}

// wantHeld fails t if s can take its lock within a short while.
func wantHeld(t testing.TB, s *Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if unlock, err := s.Lock(ctx); err == nil {
		unlock()
		t.Fatal("the lock was free; want it held")
	}
}

// TestLockHonoursContext waits for a held lock with a context that ends,
// from another Store and from the Store that holds it: both give up with
// the context's error, and neither holds the lock afterwards.
func TestLockHonoursContext(t *testing.T) {
	client := newClient(t)
	key := uniqueKey(t)
	holder := New(client, key, nil)
	unlock := mustLock(t, holder)
	other := New(client, key, nil)

	for name, s := range map[string]*Store{"other Store": other, "same Store": holder} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			done := make(chan error, 1)
			go func() {
				_, err := s.Lock(ctx)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Lock: %v, want context.Canceled", err)
				}
				wantStoreError(t, err, s.LockKey())
			case <-time.After(hangBound):
				t.Fatalf("Lock still waiting %v after its context ended", hangBound)
			}
		})
	}
	unlock()
	// Neither waiter left the lock held, in Redis or in the Stores.
	mustLock(t, other)()
	mustLock(t, holder)()
}

// TestAcquireRetriedTakesOwnLease runs the acquiring script twice with one
// owner value, as a client does that retries a command whose response was
// lost: the second run finds the lease its own.
func TestAcquireRetriedTakesOwnLease(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	s := New(client, uniqueKey(t), nil)
	for i := range 2 {
		left, err := acquireLease.Run(ctx, client, []string{s.LockKey()}, "owner-1", 10000).Int64()
		if err != nil || left != 0 {
			t.Fatalf("run %d: %d, %v; want the lease (0)", i, left, err)
		}
	}
	left, err := acquireLease.Run(ctx, client, []string{s.LockKey()}, "owner-2", 10000).Int64()
	if err != nil || left <= 0 || left > 10000 {
		t.Fatalf("another owner: %d, %v; want the time left on the lease", left, err)
	}
}

// TestLeaseTTL checks the TTL a lease is taken with: DefaultLockTTL, which
// outlasts the Source's default refresh timeout, or Options.LockTTL.
func TestLeaseTTL(t *testing.T) {
	if DefaultLockTTL <= tokensource.DefaultRefreshTimeout {
		t.Errorf("DefaultLockTTL %v does not outlast DefaultRefreshTimeout %v", DefaultLockTTL, tokensource.DefaultRefreshTimeout)
	}
	client := newClient(t)
	for _, c := range []struct {
		opts *Options
		want time.Duration
	}{
		{nil, DefaultLockTTL},
		{&Options{LockTTL: -time.Second}, DefaultLockTTL},
		{&Options{LockTTL: 7 * time.Second}, 7 * time.Second},
	} {
		s := New(client, uniqueKey(t), c.opts)
		unlock := mustLock(t, s)
		ttl := client.PTTL(context.Background(), s.LockKey()).Val()
		unlock()
		// The lease was taken at most hangBound ago.
		if ttl <= 0 || ttl > c.want || ttl < c.want-hangBound {
			t.Errorf("with %+v, the lease has %v left; want at most %v", c.opts, ttl, c.want)
		}
	}
}

// mustLease takes s's lease, waiting no longer than hangBound.
func mustLease(t testing.TB, s *Store) *Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	l, err := s.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return l.(*Lease)
}

// waitLost waits for l to be lost, and fails t if it is not within bound.
func waitLost(t testing.TB, l *Lease, bound time.Duration) {
	t.Helper()
	select {
	case <-l.Lost():
	case <-time.After(bound):
		t.Fatalf("the lease was not lost within %v", bound)
	}
	if err := l.Err(); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("Err of a lost lease: %v; want an error wrapping ErrLeaseLost", err)
	}
}

// TestUnlockAfterLeaseExpiredKeepsNextHolders lets a lease end (its key
// deleted, as its TTL would) and another Store take it: the first
// holder's lease is lost, and its unlock must not release the second's.
func TestUnlockAfterLeaseExpiredKeepsNextHolders(t *testing.T) {
	client := newClient(t)
	key := uniqueKey(t)
	a := New(client, key, &Options{LockTTL: 300 * time.Millisecond})
	b := New(client, key, nil)
	leaseA := mustLease(t, a)
	client.Del(context.Background(), a.LockKey())
	unlockB := mustLock(t, b)
	defer unlockB()
	waitLost(t, leaseA, hangBound)
	leaseA.Release()
	wantHeld(t, New(client, key, nil))
}

// TestLockWaitsForDeadHoldersLease takes a lease with the script alone,
// never renewed nor released, as a process that died leaves it: the next
// Lock gets it once its TTL ends.
func TestLockWaitsForDeadHoldersLease(t *testing.T) {
	client := newClient(t)
	key := uniqueKey(t)
	const ttl = 300 * time.Millisecond
	s := New(client, key, nil)
	if err := acquireLease.Run(context.Background(), client, []string{s.LockKey()}, "dead", ttl.Milliseconds()).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	unlock := mustLock(t, s)
	defer unlock()
	if waited := time.Since(start); waited < ttl/2 {
		t.Errorf("took the lock after %v; the dead holder's lease had %v to run", waited, ttl)
	}
}

// TestSaveUnderExpiredLeaseIsRefused has a holder read the record under a
// lease that it then loses while another holder takes the lease and saves
// a newer token: the first holder's write, a compare-and-swap on the
// record it read, is refused, and the newer token stays.
func TestSaveUnderExpiredLeaseIsRefused(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	key := uniqueKey(t)
	stalled := New(client, key, &Options{LockTTL: 300 * time.Millisecond})
	next := New(client, key, nil)
	mustSave(t, stalled, sampleToken("before"))

	lease := mustLease(t, stalled)
	defer lease.Release()
	read, err := stalled.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client.Del(ctx, stalled.LockKey()) // its TTL ran out while it stalled
	unlockNext := mustLock(t, next)
	mustSave(t, next, sampleToken("newer"))
	unlockNext()
	waitLost(t, lease, hangBound)

	stale, err := tokensource.EncodeRecord(&tokensource.Record{Generation: 2, Token: sampleToken("secret-stale")})
	if err != nil {
		t.Fatal(err)
	}
	err = stalled.Put(ctx, read, stale)
	if !errors.Is(err, tokensource.ErrConflict) {
		t.Fatalf("Put of the stalled holder: %v, want ErrConflict", err)
	}
	wantStoreError(t, err, stalled.TokenKey(), "secret")
	if got := mustLoad(t, next); got.AccessToken != "newer" {
		t.Errorf("the store holds %q, want the newer token", got.AccessToken)
	}
}

// TestLeaseRenewed holds a lease with a LockTTL of 300ms for 1.5s: it is
// renewed, so another Store cannot take it meanwhile, and it is not lost.
func TestLeaseRenewed(t *testing.T) {
	client := newClient(t)
	key := uniqueKey(t)
	const ttl = 300 * time.Millisecond
	lease := mustLease(t, New(client, key, &Options{LockTTL: ttl}))
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	if l, err := New(newClient(t), key, nil).Lease(ctx); err == nil {
		l.Release()
		t.Fatal("another Store took a lease held and renewed")
	}
	select {
	case <-lease.Lost():
		t.Fatalf("the lease was lost: %v", lease.Err())
	default:
	}
	if ttl := client.PTTL(context.Background(), New(client, key, nil).LockKey()).Val(); ttl <= 0 {
		t.Errorf("the lease key has TTL %v after 1.5s", ttl)
	}
	lease.Release()
	mustLock(t, New(client, key, nil))()
}

// TestLeaseLostWhenTaken deletes a held lease's key and has another owner
// take it, as after an expiry: the next renewal sees it, and Lost closes
// within a renewal period or so.
func TestLeaseLostWhenTaken(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	const ttl = 300 * time.Millisecond
	s := New(client, uniqueKey(t), &Options{LockTTL: ttl})
	lease := mustLease(t, s)
	defer lease.Release()
	client.Del(ctx, s.LockKey())
	if err := acquireLease.Run(ctx, client, []string{s.LockKey()}, "another", 10000).Err(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitLost(t, lease, hangBound)
	if d := time.Since(start); d > ttl {
		t.Errorf("the lease was lost %v after another took it; want within %v", d, ttl)
	}
	if v := client.Get(ctx, s.LockKey()).Val(); v != "another" {
		t.Errorf("the lease key holds %q; want the other owner's", v)
	}
}
