package pgstore

import (
	"context"
	"testing"
	"time"

	"github.com/oauthkit/tokensource/tokensourcetest"
)

// TestLockExcludesAcrossProcesses: processes, each with goroutines of its
// own, take turns.
func TestLockExcludesAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs OS processes")
	}
	url := serverURL(t)
	pool := testPool(t)
	opts := newTable(t, pool)
	c := newCounter(t, pool)
	const processes, goroutines, rounds = 3, 4, 15
	children := startChildren(t, processes, childSpec{
		Role: "locker", URL: url, Table: opts.Table, Key: "k",
		Goroutines: goroutines, Rounds: rounds, Counter: c.table,
	})
	for _, ch := range children {
		r, err := ch.report()
		if err != nil {
			t.Fatal(err)
		}
		if r.Failed != 0 {
			t.Errorf("%s: %d rounds failed, the first with: %s", ch.spec.Name, r.Failed, r.FirstError)
		}
	}
	if got, want := c.total(t), processes*goroutines*rounds; got != want {
		t.Errorf("total = %d, want %d: holders overlapped", got, want)
	}
}

// TestReplicasShareOneGrant runs 4 processes of 50 goroutines each, with
// one key, against a server that rotates refresh tokens, detects their
// reuse and issues 1-second access tokens. The lock must make them refresh
// one at a time and adopt each other's tokens: no reuse, no failed request,
// and refreshes as for one process, not four.
func TestReplicasShareOneGrant(t *testing.T) {
	if testing.Short() {
		t.Skip("runs OS processes for several seconds")
	}
	const (
		processes  = 4
		goroutines = 50
		run        = 6 * time.Second
		lifetime   = time.Second
	)
	url := serverURL(t)
	pool := testPool(t)
	opts := newTable(t, pool)
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{AccessTokenLifetime: lifetime})
	defer srv.Close()
	if err := New(pool, "acct", opts).Save(context.Background(), srv.Login()); err != nil {
		t.Fatal(err)
	}

	children := startChildren(t, processes, childSpec{
		Role: "requests", URL: url, Table: opts.Table, Key: "acct",
		Goroutines: goroutines, Server: srv.URL, Run: run,
	})
	var ok, failed, refreshes, adopted int64
	for _, ch := range children {
		r, err := ch.report()
		if err != nil {
			t.Fatal(err)
		}
		ok += r.OK
		failed += r.Failed
		refreshes += r.Stats.Refreshes
		adopted += r.Stats.Adopted
		if r.Failed != 0 {
			t.Errorf("%s: %d requests failed, the first with: %s", ch.spec.Name, r.Failed, r.FirstError)
		}
	}
	st := srv.Stats()
	t.Logf("%d processes × %d goroutines: %d requests ok, %d failed; %d refreshes, %d adopted; server: %+v",
		processes, goroutines, ok, failed, refreshes, adopted, st)
	if st.ReuseDetected != 0 {
		t.Errorf("the server detected %d reused refresh tokens", st.ReuseDetected)
	}
	if ok == 0 {
		t.Error("no request succeeded")
	}
	if refreshes != st.Refreshes {
		t.Errorf("the processes refreshed %d times, the server saw %d", refreshes, st.Refreshes)
	}
	// A token is refreshed no sooner than half its life after it is issued:
	// at most run/(lifetime/2) refreshes in all, plus one for the start.
	// A refresh per process would be four times that.
	if limit := int64(run/(lifetime/2)) + 1; st.Refreshes == 0 || st.Refreshes > limit {
		t.Errorf("%d refreshes in %v of %v tokens; want 1 to %d", st.Refreshes, run, lifetime, limit)
	}
	if adopted == 0 {
		t.Error("no process adopted a token another one refreshed")
	}
}
