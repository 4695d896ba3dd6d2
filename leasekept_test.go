package tokensource

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// flakyLeaser is a MemoryStore whose Puts fail while down is set, and a
// Leaser that counts the leases it hands out and gets back.
type flakyLeaser struct {
	*MemoryStore
	down     atomic.Bool
	cut      atomic.Bool // set down at the next token request
	leases   atomic.Int64
	released chan struct{} // receives once per Release
}

func (f *flakyLeaser) Put(ctx context.Context, prev, data []byte) error {
	if f.down.Load() {
		return errors.New("store unreachable")
	}
	return f.MemoryStore.Put(ctx, prev, data)
}

func (f *flakyLeaser) Lock(ctx context.Context) (func(), error) { panic("Lease is used") }

func (f *flakyLeaser) Lease(ctx context.Context) (Lease, error) {
	f.leases.Add(1)
	return &countedLease{lost: make(chan struct{}), released: f.released}, nil
}

type countedLease struct {
	lost     chan struct{}
	released chan struct{}
	once     sync.Once
}

func (l *countedLease) Lost() <-chan struct{} { return l.lost }
func (l *countedLease) Release()              { l.once.Do(func() { l.released <- struct{}{} }) }

// cutAtRequest returns Options whose TokenRequest hook takes st down if
// st.cut is set: after the intent is recorded, before the new token's save.
func cutAtRequest(st *flakyLeaser, now func() time.Time) *Options {
	return &Options{Now: now, Hooks: &Hooks{TokenRequest: func(context.Context) {
		if st.cut.Swap(false) {
			st.down.Store(true)
		}
	}}}
}

func newFlakyLeaser(t *testing.T, tok *oauth2.Token) *flakyLeaser {
	t.Helper()
	f := &flakyLeaser{MemoryStore: NewMemoryStore(), released: make(chan struct{}, 10)}
	if err := f.Save(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return f
}

// A Source that could not save its new token keeps the store's lease
// until the background save lands: whoever took it next would find the
// spent refresh token, or no login. A refresh meanwhile takes the kept
// lease over instead of waiting for itself.
func TestLeaseKeptUntilTheSaveLands(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	st := newFlakyLeaser(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)})
	s := New(e.refresh, st, cutAtRequest(st, clock.Now))
	ctx := context.Background()

	st.cut.Store(true)
	if tok, err := s.Refresh(ctx); err != nil || tok.AccessToken != "a1" {
		t.Fatalf("Refresh with the store down = %v, %v; want a1 served", tok, err)
	}
	select {
	case <-st.released:
		t.Fatal("the lease was given back with the new token unsaved")
	default:
	}
	// A forced refresh takes the kept lease over, rather than wait for a
	// second one: it fails, as it cannot record its intent, and keeps the
	// lease again.
	if _, err := s.Refresh(ctx); err == nil {
		t.Fatal("second Refresh with the store down succeeded")
	}
	if n := st.leases.Load(); n != 1 {
		t.Fatalf("%d leases taken, want 1: the kept one is taken over", n)
	}
	if n := len(st.released); n != 0 {
		t.Fatal("the lease was given back with the new token unsaved")
	}
	st.down.Store(false)
	recv(t, st.released) // the background save landed, and the lease is back
	if got, err := st.Load(ctx); err != nil || got.RefreshToken != "r1" {
		t.Fatalf("stored %v, %v; want r1", got, err)
	}
	if err := s.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(st.released); n != 0 {
		t.Errorf("%d more releases, want none", n)
	}
}

// Wait gives back a lease kept for a save still owed: the program is
// leaving, and other processes must not wait for the lease's TTL.
func TestWaitGivesBackAKeptLease(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	st := newFlakyLeaser(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)})
	s := New(e.refresh, st, cutAtRequest(st, clock.Now))
	st.cut.Store(true)
	if _, err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := s.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-st.released:
	default:
		t.Fatal("Wait returned with the lease still kept")
	}
}

// A lease lost while kept (its TTL ran out with the store away) is not
// taken over: the next refresh takes a new lease.
func TestLostKeptLeaseIsNotTakenOver(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	st := newFlakyLeaser(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)})
	var first *countedLease
	s := New(e.refresh, st, cutAtRequest(st, clock.Now))
	st.cut.Store(true)
	if _, err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.turn <- struct{}{}
	first, _ = s.resave.lease.(*countedLease)
	s.endTurn()
	if first == nil {
		t.Fatal("no lease kept after the failed save")
	}
	close(first.lost)
	st.down.Store(false)
	if _, err := s.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := st.leases.Load(); n != 2 {
		t.Errorf("%d leases taken, want 2: a lost lease is not reused", n)
	}
}
