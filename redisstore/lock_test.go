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

// TestUnlockAfterLeaseExpiredKeepsNextHolders lets a lease expire and
// another Store take it: the first holder's unlock must not release the
// second's lease.
func TestUnlockAfterLeaseExpiredKeepsNextHolders(t *testing.T) {
	client := newClient(t)
	key := uniqueKey(t)
	a := New(client, key, &Options{LockTTL: 50 * time.Millisecond})
	b := New(client, key, nil)
	unlockA := mustLock(t, a)
	unlockB := mustLock(t, b) // once a's lease has expired
	defer unlockB()
	unlockA()
	wantHeld(t, New(client, key, nil))
}

// TestLockWaitsForDeadHoldersLease takes a lease and never releases it, as
// a process that died would: the next Lock gets it once its TTL ends.
func TestLockWaitsForDeadHoldersLease(t *testing.T) {
	client := newClient(t)
	key := uniqueKey(t)
	const ttl = 300 * time.Millisecond
	mustLock(t, New(client, key, &Options{LockTTL: ttl})) // never released
	start := time.Now()
	unlock := mustLock(t, New(client, key, nil))
	defer unlock()
	if waited := time.Since(start); waited < ttl/2 {
		t.Errorf("took the lock after %v; the dead holder's lease had %v to run", waited, ttl)
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

// TestSaveUnderLostLeaseIsRefused lets a holder's lease expire while
// another Store takes it and saves a newer token: the first holder's Save
// and Delete must fail with ErrLeaseLost and leave that token in place.
func TestSaveUnderLostLeaseIsRefused(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	key := uniqueKey(t)
	stalled := New(client, key, &Options{LockTTL: 50 * time.Millisecond})
	next := New(client, key, nil)

	unlockStalled := mustLock(t, stalled)
	defer unlockStalled()
	unlockNext := mustLock(t, next) // once the stalled holder's lease has expired
	mustSave(t, next, sampleToken("newer"))
	unlockNext()

	err := stalled.Save(ctx, sampleToken("secret-stale"))
	if !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Save under a lost lease: %v, want ErrLeaseLost", err)
	}
	wantStoreError(t, err, stalled.LockKey(), "secret")
	if got := mustLoad(t, next); got.AccessToken != "newer" {
		t.Errorf("the store holds %q, want the newer token", got.AccessToken)
	}
}

// TestSaveUnderExpiredLeaseIsRefused lets a lease expire with no one taking
// it: the holder's Save is still refused, since someone may have held the
// lease and released it meanwhile.
func TestSaveUnderExpiredLeaseIsRefused(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	s := New(client, uniqueKey(t), &Options{LockTTL: 50 * time.Millisecond})
	mustSave(t, s, sampleToken("before"))
	unlock := mustLock(t, s)
	defer unlock()
	for deadline := time.Now().Add(hangBound); client.Exists(ctx, s.LockKey()).Val() == 1; {
		if time.Now().After(deadline) {
			t.Fatalf("the lease did not expire within %v", hangBound)
		}
		time.Sleep(10 * time.Millisecond) // until the lease expires
	}
	if err := s.Save(ctx, sampleToken("after")); !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("Save under an expired lease: %v, want ErrLeaseLost", err)
	}
	if got := mustLoad(t, s); got.AccessToken != "before" {
		t.Errorf("the store holds %q, want the token from before", got.AccessToken)
	}
}

// TestSaveUnderLeaseWrites saves under a lease that is still held, and
// without one after unlock.
func TestSaveUnderLeaseWrites(t *testing.T) {
	s := New(newClient(t), uniqueKey(t), nil)
	unlock := mustLock(t, s)
	mustSave(t, s, sampleToken("locked"))
	if got := mustLoad(t, s); got.AccessToken != "locked" {
		t.Errorf("after a Save under the lease, the store holds %q", got.AccessToken)
	}
	unlock()
	mustSave(t, s, sampleToken("unlocked"))
	if got := mustLoad(t, s); got.AccessToken != "unlocked" {
		t.Errorf("after a Save without the lease, the store holds %q", got.AccessToken)
	}
}

// TestDeleteWaitsForRunningRefresh starts a Delete while another Store
// holds the lock, as a refresh does, and saves a token before unlocking:
// the Delete must remove that token, not run before it is saved.
func TestDeleteWaitsForRunningRefresh(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	key := uniqueKey(t)
	refresher, other := New(client, key, nil), New(client, key, nil)
	mustSave(t, refresher, sampleToken("old"))
	unlock := mustLock(t, refresher)

	deleted := make(chan error)
	go func() { deleted <- other.Delete(ctx) }()
	select {
	case err := <-deleted:
		t.Fatalf("Delete returned %v while the lock was held", err)
	case <-time.After(100 * time.Millisecond):
	}
	mustSave(t, refresher, sampleToken("refreshed"))
	unlock()
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if _, err := other.Load(ctx); !errors.Is(err, tokensource.ErrNotFound) {
		t.Errorf("Load after Delete: %v, want ErrNotFound", err)
	}
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
