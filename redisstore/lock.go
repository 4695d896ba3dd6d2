package redisstore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"math/rand/v2"
	"sync"
	"time"
)

// Polling for a lease another process holds: the wait doubles from
// pollMin up to pollMax, jittered down by up to a half so that waiters do
// not poll together, and never goes past the end of the holder's lease.
const (
	pollMin = 5 * time.Millisecond
	pollMax = 25 * time.Millisecond
)

// releaseTimeout bounds the unlock, which has no caller's context: if
// Redis cannot be reached, the lease ends with its TTL instead.
const releaseTimeout = 5 * time.Second

// Lock takes the lease on the key, waiting until it is free or ctx ends,
// and returns the function that releases it. Goroutines of one process
// that Lock the same Store wait their turn in memory; other Stores and
// other processes on the key wait by polling Redis (see the package
// documentation).
//
// The lease lasts [Options.LockTTL] unless released. While it is held,
// [Store.Save] and [Store.Delete] are fenced: they write only if the lease is still this
// Lock's. The returned unlock deletes the lease only if it is still this
// Lock's (compare-and-delete); calling it again does nothing. It returns
// without reporting an error: if Redis cannot be reached, the lease ends
// with its TTL.
//
// The error names the lease key. When ctx ends, it wraps ctx.Err().
func (s *Store) Lock(ctx context.Context) (unlock func(), err error) {
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, s.errorf("lock", s.lockKey, ctx.Err())
	}
	owner := newOwner()
	if err := s.acquire(ctx, owner); err != nil {
		<-s.turn
		return nil, s.errorf("lock", s.lockKey, err)
	}
	s.setOwner(owner)
	var once sync.Once
	return func() {
		once.Do(func() {
			s.setOwner("")
			s.release(owner)
			<-s.turn
		})
	}, nil
}

// acquire polls until the lease is owner's, or ctx ends.
func (s *Store) acquire(ctx context.Context, owner string) error {
	wait := pollMin
	for {
		left, err := acquireLease.Run(ctx, s.client, []string{s.lockKey}, owner, s.ttl.Milliseconds()).Int64()
		if err != nil {
			// The lease may have been taken before the error (a response
			// lost, ctx ended in flight): give it back rather than leave
			// the others waiting for its TTL.
			s.release(owner)
			return err
		}
		if left == 0 {
			return nil
		}
		d := wait - rand.N(wait/2)
		if left > 0 {
			d = min(d, time.Duration(left)*time.Millisecond)
		}
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		wait = min(2*wait, pollMax)
	}
}

// release deletes the lease if it holds owner.
func (s *Store) release(owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	releaseLease.Run(ctx, s.client, []string{s.lockKey}, owner)
}

// newOwner returns a random owner value: 128 bits, in hex.
func newOwner() string {
	var b [16]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
}
