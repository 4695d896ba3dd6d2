package keyringstore

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// TestLockExcludesGoroutines has goroutines take the lock in turn,
// through one shared Store and through Stores of their own: no two hold
// it at once, and each gets its turn. The lock is a file's: it needs no
// keyring.
func TestLockExcludesGoroutines(t *testing.T) {
	const goroutines, rounds = 8, 5
	path := filepath.Join(t.TempDir(), "lock")
	shared := New("keyringstore-test", testUser, &Options{LockPath: path})
	var inside, most, held atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	ctx := testCtx(t)
	for g := range goroutines {
		s := shared
		if g%2 == 1 {
			s = New("keyringstore-test", testUser, &Options{LockPath: path})
		}
		wg.Go(func() {
			for range rounds {
				unlock, err := s.Lock(ctx)
				if err != nil {
					errs <- err
					return
				}
				n := inside.Add(1)
				for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
				}
				held.Add(1)
				time.Sleep(time.Millisecond)
				inside.Add(-1)
				unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Lock: %v", err)
	}
	if m := most.Load(); m > 1 {
		t.Errorf("%d holders at once", m)
	}
	if n := held.Load(); n != goroutines*rounds && !t.Failed() {
		t.Errorf("%d locks held; want %d", n, goroutines*rounds)
	}
}

// TestLockExcludesProcesses has two processes and this one add one to a
// counter in a file, by a read and a write, each under the lock: no
// increment is lost. A process that holds the lock keeps this one out,
// until its ctx ends.
func TestLockExcludesProcesses(t *testing.T) {
	const rounds = 20
	dir := t.TempDir()
	spec := childSpec{Part: "lock-increment", Service: "keyringstore-test", LockPath: filepath.Join(dir, "lock"),
		Counter: filepath.Join(dir, "counter"), Rounds: rounds}
	s := New(spec.Service, testUser, &Options{LockPath: spec.LockPath})
	children := []*storetest.Child{startChild(t, spec, nil, nil), startChild(t, spec, nil, nil)}
	for range rounds {
		unlock, err := s.Lock(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := incrementFile(spec.Counter); err != nil {
			t.Fatal(err)
		}
		unlock()
	}
	for _, c := range children {
		c.Report(t, nil)
	}
	data, err := os.ReadFile(spec.Counter)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(string(data)); n != 3*rounds {
		t.Fatalf("the counter is %d after %d increments under the lock", n, 3*rounds)
	}

	holder := startChild(t, childSpec{Part: "hold-lock", Service: spec.Service, LockPath: spec.LockPath}, nil, nil)
	holder.Await(t, "locked")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if unlock, err := s.Lock(ctx); err == nil {
		unlock()
		t.Fatal("took the lock that another process holds")
	}
	holder.Report(t, nil) // closes its stdin: it unlocks and ends
	unlock, err := s.Lock(testCtx(t))
	if err != nil {
		t.Fatalf("Lock after the holder released it: %v", err)
	}
	unlock()
}

// TestLockBoundedByContext: a Lock on a held lock returns by its ctx's
// deadline, give or take storetest.Slack, with an error wrapping
// ctx.Err() that names the lock file; with a ctx that has ended, at once.
func TestLockBoundedByContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lock")
	s := New("keyringstore-test", testUser, &Options{LockPath: path})
	unlock, err := s.Lock(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Lock(ctx)
	took := time.Since(start)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Lock on a held lock: %v; want an error wrapping DeadlineExceeded that names %s", err, path)
	}
	if took > 200*time.Millisecond+storetest.Slack {
		t.Errorf("Lock returned %v after it began; its ctx ended after 200ms", took)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Lock(ended); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock with an ended ctx: %v; want an error wrapping Canceled", err)
	}
}

// TestPutExcludesProcesses has two processes and this one write the next
// generation of the record, each 6 times, by compare-and-swap (Get, then
// Put with what Get returned): the file lock that Put takes makes its
// compare and its write one step, so that every Put that wins follows
// the one before, and the record ends at generation 18. The record is in
// chunks, so that a Put is many writes.
func TestPutExcludesProcesses(t *testing.T) {
	const rounds, chunkSize = 6, 256
	s := newStore(t, &Options{ChunkSize: chunkSize, LockPath: filepath.Join(t.TempDir(), "lock")})
	spec := childSpec{Part: "cas-increment", Service: s.Service(), LockPath: s.LockPath(), ChunkSize: chunkSize, Rounds: rounds}
	children := []*storetest.Child{startChild(t, spec, nil, nil), startChild(t, spec, nil, nil)}
	for range rounds {
		if err := nextGeneration(testCtx(t), s); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range children {
		c.Report(t, nil)
	}
	data, err := s.Get(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	rec, err := tokensource.DecodeRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Generation != 3*rounds {
		t.Fatalf("the record is at generation %d after %d writes by compare-and-swap", rec.Generation, 3*rounds)
	}
}

// TestNoLockPath: with no Options.LockPath and no cache directory, Lock,
// Save and Put fail, saying to set Options.LockPath; Load works.
func TestNoLockPath(t *testing.T) {
	s := newStore(t, nil)
	mustSave(t, s, sampleToken("before", 100))
	t.Setenv("HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	bare := New(s.Service(), s.User(), nil)
	if bare.LockPath() != "" {
		t.Fatalf("LockPath %q with no cache directory", bare.LockPath())
	}
	wantToken(t, mustLoad(t, bare), sampleToken("before", 100))
	_, err := bare.Lock(testCtx(t))
	if err == nil || !strings.Contains(err.Error(), "Options.LockPath") {
		t.Fatalf("Lock with no lock file: %v; want an error that says to set Options.LockPath", err)
	}
	wantStoreError(t, err, bare)
	if err := bare.Save(testCtx(t), sampleToken("after", 100)); err == nil || !strings.Contains(err.Error(), "Options.LockPath") {
		t.Fatalf("Save with no lock file: %v; want an error that says to set Options.LockPath", err)
	}
}

// TestDefaultLockPath: Stores of one service and user lock one file in
// the user's cache directory; of another user, another.
func TestDefaultLockPath(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	a, b, c := New("svc", "alice", nil), New("svc", "alice", nil), New("svc", "bob", nil)
	if a.LockPath() != b.LockPath() || a.LockPath() == c.LockPath() {
		t.Fatalf("lock files %s, %s and %s; want the first two the same, the third another", a.LockPath(), b.LockPath(), c.LockPath())
	}
	if !strings.HasPrefix(a.LockPath(), filepath.Join(cache, "tokensource")+string(filepath.Separator)) {
		t.Fatalf("lock file %s is not in the cache directory %s", a.LockPath(), cache)
	}
	unlock, err := a.Lock(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if unlock, err := b.Lock(ctx); err == nil {
		unlock()
		t.Fatal("a second Store of the same service and user took the lock that the first holds")
	}
	if unlock, err := c.Lock(testCtx(t)); err != nil {
		t.Fatalf("Lock of another user: %v", err)
	} else {
		unlock()
	}
	if fi, err := os.Stat(a.LockPath()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the lock file: %v, %v; want mode 0600", fi, err)
	}
}
