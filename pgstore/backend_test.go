package pgstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
)

// mustEncode returns the record of generation gen that holds
// fullToken(access).
func mustEncode(t testing.TB, gen int64, access string) []byte {
	t.Helper()
	data, err := tokensource.EncodeRecord(&tokensource.Record{Generation: gen, Token: fullToken(access)})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

var _ tokensource.Backend = (*Store)(nil)
var _ tokensource.Leaser = (*Store)(nil)
var _ tokensource.Locker = (*Store)(nil)

// TestBackendCompareAndSwap: Get of an absent key is ErrNotFound; Put from
// nil creates, and only once; Put from the stored bytes replaces them, and
// from any other bytes conflicts, writing nothing.
func TestBackendCompareAndSwap(t *testing.T) {
	pool := testPool(t)
	opts := newTable(t, pool)
	ctx := context.Background()
	s := New(pool, "k", opts)
	if _, err := s.Get(ctx); !errors.Is(err, tokensource.ErrNotFound) {
		t.Fatalf("Get of an absent key: %v, want ErrNotFound", err)
	}
	one, two, three := mustEncode(t, 1, "one"), mustEncode(t, 2, "two"), mustEncode(t, 3, "three")
	if err := s.Put(ctx, one, two); !errors.Is(err, tokensource.ErrConflict) {
		t.Errorf("Put from bytes over an absent key: %v, want ErrConflict", err)
	}
	if err := s.Put(ctx, nil, one); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, nil, two); !errors.Is(err, tokensource.ErrConflict) {
		t.Errorf("Put from nil over a stored record: %v, want ErrConflict", err)
	}
	if err := s.Put(ctx, three, two); !errors.Is(err, tokensource.ErrConflict) {
		t.Errorf("Put from other bytes: %v, want ErrConflict", err)
	}
	if got, err := s.Get(ctx); err != nil || string(got) != string(one) {
		t.Fatalf("after the conflicts: %q, %v; want the first record", got, err)
	}
	if err := s.Put(ctx, one, two); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx); err != nil || string(got) != string(two) {
		t.Errorf("after the swap: %q, %v", got, err)
	}
	wantStored(t, pool, opts, "two")
}

// TestConcurrentPutsOneWinner: writers that all read the same record and
// swap it at once: exactly one succeeds, from nil and from a record.
func TestConcurrentPutsOneWinner(t *testing.T) {
	pool := testPool(t)
	opts := newTable(t, pool)
	ctx := context.Background()
	var prev []byte
	for round := range 5 {
		var wins atomic.Int32
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				s := New(pool, "k", opts)
				err := s.Put(ctx, prev, mustEncode(t, int64(round+1), string(rune('a'+w))))
				switch {
				case err == nil:
					wins.Add(1)
				case !errors.Is(err, tokensource.ErrConflict):
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d writers won, want 1", round, n)
		}
		var err error
		if prev, err = New(pool, "k", opts).Get(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSaveAfterDeleteLogsIn: a Save over a tombstone is a new login.
func TestSaveAfterDeleteLogsIn(t *testing.T) {
	pool, opts, s := savedStore(t, "a")
	ctx := context.Background()
	if err := s.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(ctx, &oauth2.Token{AccessToken: "b"}); err != nil {
		t.Fatal(err)
	}
	wantStored(t, pool, opts, "b")
}
