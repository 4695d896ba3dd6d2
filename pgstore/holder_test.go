//go:build unix

package pgstore

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/oauthkit/tokensource/tokensourcetest"
)

// holderRig is processes that all need a refresh at once, of one key, from
// a server that holds the first token request: one of them holds the lock
// while that request is in flight, the others wait for the lock.
type holderRig struct {
	t        *testing.T
	pool     *pgxpool.Pool
	store    *Store
	srv      *tokensourcetest.Server
	children []*child
	holder   *child
}

const holderGoroutines = 4

// newHolderRig starts the processes, and returns once the holder's token
// request is held by latency and every other process waits for the lock.
func newHolderRig(t *testing.T, processes int, latency time.Duration) *holderRig {
	if testing.Short() {
		t.Skip("runs OS processes")
	}
	url := serverURL(t)
	r := &holderRig{t: t, pool: testPool(t)}
	opts := newTable(t, r.pool)
	r.store = New(r.pool, "acct", opts)
	r.srv = tokensourcetest.NewServer(&tokensourcetest.Options{Latency: latency})
	t.Cleanup(r.srv.Close)
	tok := r.srv.Login()
	tok.Expiry = time.Now().Add(-time.Minute) // every process refreshes at once
	if err := r.store.Save(context.Background(), tok); err != nil {
		t.Fatal(err)
	}

	// A RefreshTimeout far longer than the test: a waiter that was not let
	// through would hang, not fail on its own.
	r.children = startChildren(t, processes, childSpec{
		Role: "requests", URL: url, Table: opts.Table, Key: "acct",
		Goroutines: holderGoroutines, Server: r.srv.URL, RefreshTimeout: time.Hour,
	})
	waitFor(t, "the holder's token request", func() bool { return r.srv.Stats().TokenRequests == 1 })
	waitFor(t, "the other processes to wait for the lock", func() bool { return waiting(t, r.pool, r.store) == processes-1 })
	for _, se := range lockSessions(t, r.pool, r.store) {
		for _, ch := range r.children {
			if se.Granted && se.App == ch.name {
				r.holder = ch
			}
		}
	}
	if r.holder == nil {
		t.Fatalf("no child holds the lock: %+v", lockSessions(t, r.pool, r.store))
	}
	return r
}

// TestLockHolderStalls stops the process that holds the lock while its
// token request is in flight. The others wait, however long: the stopped
// process's connection stays open, and its session holds the lock. When it
// resumes, it saves its token, and the others adopt it: one refresh, no
// reuse.
func TestLockHolderStalls(t *testing.T) {
	const processes = 3
	r := newHolderRig(t, processes, 5*time.Second)
	if err := r.holder.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.holder.Signal(syscall.SIGCONT) })
	r.srv.SetLatency(0)

	// While it is stopped, its session keeps the lock, the others wait, and
	// none of them sends a token request. The stop outlasts the held
	// request's latency, so its response waits in the socket.
	waitFor(t, "the held token request to get its response", func() bool { return r.srv.Stats().Refreshes == 1 })
	for _, se := range lockSessions(t, r.pool, r.store) {
		if se.Granted != (se.App == r.holder.name) {
			t.Errorf("while the holder is stopped: %+v", se)
		}
	}
	if n := r.srv.Stats().TokenRequests; n != 1 {
		t.Errorf("%d token requests while the holder is stopped, want its one", n)
	}

	if err := r.holder.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	var refreshes int64
	for _, ch := range r.children {
		var rep childReport
		ch.Report(t, &rep)
		if rep.OK != holderGoroutines {
			t.Errorf("%s: %d ok, %d failed (first: %s)", ch.name, rep.OK, rep.Failed, rep.FirstError)
		}
		refreshes += rep.Stats.Refreshes
	}
	if st := r.srv.Stats(); st.Refreshes != 1 || st.ReuseDetected != 0 || refreshes != 1 {
		t.Errorf("server: %+v, %d refreshes by the processes; want the holder's one, used by all", st, refreshes)
	}
}
