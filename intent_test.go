package tokensource_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// TestIntentWaitAdopts: while Source A's refresh is in flight (its intent
// in the store), Source B on the same store waits instead of calling its
// RefreshFunc, and adopts A's token once A saves it. On a MemoryStore,
// which is no Locker, only the intent makes B wait; a FileStore's lock
// makes it wait too.
func TestIntentWaitAdopts(t *testing.T) {
	t.Run("memory", func(t *testing.T) { testIntentWaitAdopts(t, tokensource.NewMemoryStore()) })
	t.Run("file", func(t *testing.T) {
		testIntentWaitAdopts(t, tokensource.NewFileStore(filepath.Join(t.TempDir(), "tok.json")))
	})
}

func testIntentWaitAdopts(t *testing.T, st interface {
	tokensource.Store
	tokensource.Backend
}) {
	clock := tokensourcetest.NewClock(epoch)
	ctx := context.Background()
	if err := st.Save(ctx, &oauth2.Token{AccessToken: "old", RefreshToken: "r-old", Expiry: clock.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	opts := &tokensource.Options{Now: clock.Now, RefreshAhead: -1, RefreshTimeout: 10 * time.Second}
	started, release := make(chan struct{}, 1), make(chan *oauth2.Token, 1)
	var callsA, callsB atomic.Int64
	a := tokensource.New(blockingRefresh(started, release, &callsA), st, opts)
	b := tokensource.New(func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		callsB.Add(1)
		return &oauth2.Token{AccessToken: "from-b", RefreshToken: "r-b", Expiry: clock.Now().Add(time.Hour)}, nil
	}, st, opts)

	resA := tokenAsync(a)
	waitFor(t, started, "A's refresh")
	if rec := storedRecord(t, st); rec.Intent == nil || rec.Intent.Refresh != tokensource.Fingerprint("r-old") {
		t.Fatalf("record during A's refresh: %+v, want an intent on r-old", rec)
	}
	resB := tokenAsync(b)
	// B keeps waiting while A's intent is unresolved: several of its polls.
	select {
	case r := <-resB:
		t.Fatalf("B returned %v, %v while A's intent was unresolved", r.tok, r.err)
	case <-time.After(500 * time.Millisecond):
	}
	if n := callsB.Load(); n != 0 {
		t.Fatalf("B called its RefreshFunc %d times while A's intent was unresolved", n)
	}
	release <- &oauth2.Token{AccessToken: "from-a", RefreshToken: "r-a", Expiry: clock.Now().Add(time.Hour)}
	if r := waitFor(t, resA, "A"); r.err != nil || r.tok.AccessToken != "from-a" {
		t.Fatalf("A: %v, %v", r.tok, r.err)
	}
	if r := waitFor(t, resB, "B"); r.err != nil || r.tok.AccessToken != "from-a" {
		t.Fatalf("B: %v, %v; want A's token", r.tok, r.err)
	}
	if n := callsA.Load() + callsB.Load(); n != 1 {
		t.Fatalf("RefreshFunc calls = %d, want 1", n)
	}
	if s := b.Stats(); s.TakeOvers != 0 || s.Adopted != 1 {
		t.Fatalf("B's stats %+v, want 0 takeovers and 1 adoption", s)
	}
}

// TestIntentTakeOver: when A never comes back from its refresh, B waits
// out the lock-delay (2*RefreshTimeout + grace + 2s, about 2.3s here) and
// takes over once, through the TakeOver hook.
func TestIntentTakeOver(t *testing.T) {
	st := tokensource.NewMemoryStore()
	ctx := context.Background()
	if err := st.Save(ctx, &oauth2.Token{AccessToken: "old", RefreshToken: "r-old", Expiry: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	const timeout = 100 * time.Millisecond
	const lockDelay = 2*timeout + timeout + 2*time.Second
	var hooked atomic.Int64
	opts := &tokensource.Options{RefreshAhead: -1, RefreshTimeout: timeout, Hooks: &tokensource.Hooks{
		TakeOver: func(context.Context, tokensource.TakeOverInfo) { hooked.Add(1) },
	}}
	started, release := make(chan struct{}, 1), make(chan *oauth2.Token, 1)
	defer func() { release <- nil }()
	var callsA, callsB atomic.Int64
	a := tokensource.New(blockingRefresh(started, release, &callsA), st, opts)
	b := tokensource.New(func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		callsB.Add(1)
		return &oauth2.Token{AccessToken: "from-b", RefreshToken: "r-b", Expiry: time.Now().Add(time.Hour)}, nil
	}, st, opts)

	go a.TokenContext(ctx)
	waitFor(t, started, "A's refresh")
	begin := time.Now()
	tok, err := b.TokenContext(ctx)
	waited := time.Since(begin)
	if err != nil || tok.AccessToken != "from-b" {
		t.Fatalf("B: %v, %v; want its own token after a takeover", tok, err)
	}
	if waited < lockDelay-200*time.Millisecond || waited > lockDelay+3*time.Second {
		t.Errorf("B waited %v, want about %v", waited, lockDelay)
	}
	if n := callsB.Load(); n != 1 {
		t.Errorf("B's RefreshFunc calls = %d, want 1", n)
	}
	if s := b.Stats(); s.TakeOvers != 1 {
		t.Errorf("B's TakeOvers = %d, want 1", s.TakeOvers)
	}
	if n := hooked.Load(); n != 1 {
		t.Errorf("TakeOver hook calls = %d, want 1", n)
	}
	if got := storedAccess(t, st); got != "from-b" {
		t.Errorf("store holds %q, want B's token", got)
	}
}
