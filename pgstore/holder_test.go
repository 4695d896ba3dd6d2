//go:build unix

package pgstore

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/oauth2"

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
			if se.Granted && se.App == ch.spec.Name {
				r.holder = ch
			}
		}
	}
	if r.holder == nil {
		t.Fatalf("no child holds the lock: %+v", lockSessions(t, r.pool, r.store))
	}
	return r
}

// survivors waits for every process but the holder and returns their
// reports.
func (r *holderRig) survivors() []childReport {
	var reports []childReport
	for _, ch := range r.children {
		if ch == r.holder {
			continue
		}
		rep, err := ch.report()
		if err != nil {
			r.t.Fatal(err)
		}
		reports = append(reports, rep)
	}
	return reports
}

// TestLockHolderDies kills the process that holds the lock while its
// token request is in flight. PostgreSQL ends its session, so the others
// go on at once (they would hang otherwise: their RefreshTimeout is an
// hour). If the server had already rotated the refresh token, the others
// are told to log in again: the server sees the reuse and refuses it.
func TestLockHolderDies(t *testing.T) {
	const processes = 3
	t.Run("before the server rotated", func(t *testing.T) {
		r := newHolderRig(t, processes, time.Hour)
		r.srv.SetLatency(0)
		killed := time.Now()
		if err := r.holder.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "a survivor's token request", func() bool { return r.srv.Stats().TokenRequests == 2 })
		handoff := time.Since(killed)
		var refreshes int64
		for _, rep := range r.survivors() {
			if rep.OK != holderGoroutines || rep.Failed != 0 {
				t.Errorf("a survivor: %d ok, %d failed (first: %s); want all %d ok", rep.OK, rep.Failed, rep.FirstError, holderGoroutines)
			}
			refreshes += rep.Stats.Refreshes
		}
		st := r.srv.Stats()
		t.Logf("a survivor's token request came %v after the kill; server: %+v", handoff, st)
		if st.ReuseDetected != 0 || st.Refreshes != 1 || refreshes != 1 {
			t.Errorf("%d refreshes by the survivors; want one, the server's only one, and no reuse", refreshes)
		}
	})
	t.Run("after the server rotated", func(t *testing.T) {
		r := newHolderRig(t, processes, time.Hour)
		r.srv.SetLatency(0)
		// The holder's request reached the server, which rotated the
		// refresh token; the response will never arrive.
		stored, err := r.store.Load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.srv.Config().TokenSource(context.Background(), &oauth2.Token{RefreshToken: stored.RefreshToken}).Token(); err != nil {
			t.Fatal(err)
		}
		if err := r.holder.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		for _, rep := range r.survivors() {
			if rep.OK != 0 || rep.Reauth != holderGoroutines {
				t.Errorf("a survivor: %d ok, %d failed, %d of them with ErrReauthRequired (first: %s); want all failed so",
					rep.OK, rep.Failed, rep.Reauth, rep.FirstError)
			}
		}
		if st := r.srv.Stats(); st.Refreshes != 1 || st.ReuseDetected == 0 {
			t.Errorf("server: %+v; want the one rotation, and the reuse of its refresh token detected", st)
		}
	})
}

// TestLockHolderStalls stops the process that holds the lock while its
// token request is in flight. The others wait, however long: the stopped
// process's connection stays open, and its session holds the lock. When it
// resumes, it saves its token, and the others adopt it: one refresh, no
// reuse.
func TestLockHolderStalls(t *testing.T) {
	const processes = 3
	r := newHolderRig(t, processes, 5*time.Second)
	pid := r.holder.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGCONT) })
	r.srv.SetLatency(0)

	// While it is stopped, its session keeps the lock, the others wait, and
	// none of them sends a token request. The stop outlasts the held
	// request's latency, so its response waits in the socket.
	waitFor(t, "the held token request to get its response", func() bool { return r.srv.Stats().Refreshes == 1 })
	for _, se := range lockSessions(t, r.pool, r.store) {
		if se.Granted != (se.App == r.holder.spec.Name) {
			t.Errorf("while the holder is stopped: %+v", se)
		}
	}
	if n := r.srv.Stats().TokenRequests; n != 1 {
		t.Errorf("%d token requests while the holder is stopped, want its one", n)
	}

	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	var refreshes int64
	for _, ch := range r.children {
		rep, err := ch.report()
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK != holderGoroutines {
			t.Errorf("%s: %d ok, %d failed (first: %s)", ch.spec.Name, rep.OK, rep.Failed, rep.FirstError)
		}
		refreshes += rep.Stats.Refreshes
	}
	if st := r.srv.Stats(); st.Refreshes != 1 || st.ReuseDetected != 0 || refreshes != 1 {
		t.Errorf("server: %+v, %d refreshes by the processes; want the holder's one, used by all", st, refreshes)
	}
}
