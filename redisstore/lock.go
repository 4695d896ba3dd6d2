package redisstore

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/tokensource"
)

// Polling for a lease another process holds: the wait doubles from
// pollMin up to pollMax, jittered down by up to a half so that waiters do
// not poll together, and never goes past the end of the holder's lease.
const (
	pollMin = 5 * time.Millisecond
	pollMax = 25 * time.Millisecond
)

// releaseTimeout bounds the release of a lease, which runs in the
// background: if Redis cannot be reached, the lease ends with its TTL
// instead.
const releaseTimeout = 5 * time.Second

// A Lease is a lease on a Store's LockKey, taken by [Store.Lease]: while
// it is held, its owner renews it every LockTTL/3. It is a
// [tokensource.Lease].
type Lease struct {
	s     *Store
	owner string // the random value the lease key holds while this Lease has it

	lost chan struct{} // closed when the lease is lost before Release
	err  error         // why; set before lost is closed

	ctx     context.Context    // ends at Release
	release context.CancelFunc // ends ctx
	kept    chan struct{}      // closed when the renewals have stopped
	freed   chan struct{}      // closed when Release has finished in the background
	once    sync.Once
}

var _ tokensource.Lease = (*Lease)(nil)

// Lease takes the lease on the key, waiting until it is free or ctx ends,
// and returns it, a [*Lease]. Goroutines of one process that take the
// lease of the same Store wait their turn in memory; other Stores and other
// processes on the key wait by polling Redis (see the package
// documentation).
//
// The lease lasts [Options.LockTTL] and is renewed every LockTTL/3 until
// Release. When a renewal finds the lease gone or held by another, or
// cannot renew it before its TTL runs out, the lease is lost: Lost is
// closed, and Err says why. It returns by ctx's deadline, give or take a
// moment, even against a server that never answers; the error names the
// lease key, and wraps ctx.Err() when ctx ended.
func (s *Store) Lease(ctx context.Context) (tokensource.Lease, error) {
	l, err := s.lease(ctx)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Lock takes the lease, as Lease does: the [tokensource.Locker] of the
// Store. The lease is renewed while it is held, and unlock releases it as
// [Lease.Release] does, deleting it only if it is still this Lock's
// (compare-and-delete), but waits for the deletion, for a few seconds at
// most, so that a process that exits after unlock leaves no lease for
// the others to wait out; if Redis cannot be reached, the lease ends with
// its TTL. Calling unlock again does nothing.
func (s *Store) Lock(ctx context.Context) (unlock func(), err error) {
	l, err := s.lease(ctx)
	if err != nil {
		return nil, err
	}
	return func() {
		l.Release()
		<-l.Released()
	}, nil
}

func (s *Store) lease(ctx context.Context) (*Lease, error) {
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, s.lockError(ctx.Err())
	}
	owner := newOwner()
	sent, err := s.acquire(ctx, owner)
	if err != nil {
		<-s.turn
		return nil, s.lockError(err)
	}
	l := &Lease{s: s, owner: owner, lost: make(chan struct{}), kept: make(chan struct{}), freed: make(chan struct{})}
	l.ctx, l.release = context.WithCancel(context.Background())
	go l.keep(sent)
	return l, nil
}

func (s *Store) lockError(err error) error {
	return &tokensource.StoreError{Op: "lock", Where: where(s.lockKey), Err: err}
}

// acquire polls until the lease is owner's, or ctx ends. It returns when
// the command that took the lease was sent.
func (s *Store) acquire(ctx context.Context, owner string) (sent time.Time, err error) {
	wait := pollMin
	for {
		sent = time.Now()
		left, err := call(ctx, func(ctx context.Context) (int64, error) {
			return acquireLease.Run(ctx, s.client, []string{s.lockKey}, owner, s.ttl.Milliseconds()).Int64()
		}, func(error) {
			// The lease may have been taken after ctx ended: give it back
			// rather than leave the others waiting for its TTL.
			s.release(owner)
		})
		if err != nil {
			if ctx.Err() == nil {
				// The lease may have been taken before the error (a
				// response lost): give it back.
				go s.release(owner)
			}
			return sent, err
		}
		if left == 0 {
			return sent, nil
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
			return sent, ctx.Err()
		}
		wait = min(2*wait, pollMax)
	}
}

// keep renews the lease every TTL/3 from sent, when the command that took
// it was sent, until Release, or until the lease is lost.
func (l *Lease) keep(sent time.Time) {
	defer close(l.kept)
	ttl := l.s.ttl
	every := max(ttl/3, time.Millisecond)
	expires := sent.Add(ttl) // at the latest: Redis set the TTL after sent
	next := sent.Add(every)
	for {
		t := time.NewTimer(time.Until(next))
		select {
		case <-t.C:
		case <-l.ctx.Done():
			t.Stop()
			return
		}
		sent := time.Now()
		held, err := l.renew(expires)
		switch {
		case l.ctx.Err() != nil:
			return // released meanwhile
		case err == nil && held:
			expires, next = sent.Add(ttl), sent.Add(every)
		case err == nil:
			l.lose(errors.New("it expired, or another holder has it"))
			return
		case !time.Now().Before(expires):
			l.lose(fmt.Errorf("not renewed before its TTL ran out: %w", err))
			return
		default:
			// Try again soon, while the lease lasts.
			next = time.Now().Add(max(every/4, time.Millisecond))
		}
	}
}

// renew extends the lease to the TTL from now, if it still holds the
// owner, giving up at expires, when it may have ended.
func (l *Lease) renew(expires time.Time) (held bool, err error) {
	ctx, cancel := context.WithDeadline(l.ctx, expires)
	defer cancel()
	n, err := call(ctx, func(ctx context.Context) (int64, error) {
		return renewLease.Run(ctx, l.s.client, []string{l.s.lockKey}, l.owner, l.s.ttl.Milliseconds()).Int64()
	}, nil)
	return n == 1, err
}

// lose marks the lease lost, for why.
func (l *Lease) lose(why error) {
	l.err = &tokensource.StoreError{Op: "renew", Where: where(l.s.lockKey), Err: fmt.Errorf("%w: %w", ErrLeaseLost, why)}
	close(l.lost)
}

// Lost is closed when the lease is lost before Release: a renewal found it
// expired or held by another, or could not reach Redis before its TTL ran
// out. Another process may hold it then. It is never closed by Release.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Err returns nil until Lost is closed, and then an error wrapping
// [ErrLeaseLost] that says why the lease was lost.
func (l *Lease) Err() error {
	select {
	case <-l.lost:
		return l.err
	default:
		return nil
	}
}

// Release gives the lease back: it stops the renewals and deletes the
// lease key if it still holds this lease's owner value
// (compare-and-delete), so that a lease that was lost never releases the
// next holder's. It returns at once, and deletes in the background,
// trying again while Redis cannot be reached, for a few seconds; if it
// cannot reach Redis by then, the lease ends with its TTL. Calling it again does nothing. A process about to
// exit waits for Released first.
func (l *Lease) Release() {
	l.once.Do(func() {
		l.release()
		go func() {
			defer close(l.freed)
			<-l.kept
			l.s.release(l.owner)
			<-l.s.turn
		}()
	})
}

// Released is closed once Release has deleted the lease in Redis, or given
// up trying, a few seconds after Release at most.
func (l *Lease) Released() <-chan struct{} { return l.freed }

// release deletes the lease if it holds owner. An attempt that fails
// (Redis unreachable for a moment) is tried again, the wait doubling from
// pollMax, until releaseTimeout: a lease left behind keeps every other
// process waiting for its TTL. A closed client is not tried again.
func (s *Store) release(owner string) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	for wait := pollMax; ; wait = min(2*wait, time.Second) {
		_, err := call(ctx, func(ctx context.Context) (any, error) {
			return nil, releaseLease.Run(ctx, s.client, []string{s.lockKey}, owner).Err()
		}, nil)
		if err == nil || errors.Is(err, redis.ErrClosed) {
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// newOwner returns a random owner value: 128 bits, in hex.
func newOwner() string {
	var b [16]byte
	crand.Read(b[:])
	return hex.EncodeToString(b[:])
}
