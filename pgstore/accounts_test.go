package pgstore

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// TestManyAccountsShareOneTable runs 4 processes that each serve 1,000
// accounts through a tokensource.Pool, one Store per account in one table,
// against a server that rotates refresh tokens, detects their reuse and
// issues 4-second access tokens, for 10 seconds. A token is used for 3 s:
// a loaded machine has a second to deliver each request. Requests go to
// random accounts from every process. The lock of each key must make the processes refresh it in
// turn: no reuse, no failed request, and each account refreshed about once
// per lifetime in all, not once per process.
func TestManyAccountsShareOneTable(t *testing.T) {
	if testing.Short() {
		t.Skip("runs OS processes for several seconds")
	}
	const (
		processes  = 4
		goroutines = 8
		accounts   = 1000
		lifetime   = 4 * time.Second // whole seconds, as expires_in carries it
		run        = 10 * time.Second
	)
	url := serverURL(t)
	pool := testPool(t)
	opts := newTable(t, pool)
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{AccessTokenLifetime: lifetime})
	defer srv.Close()
	ctx := context.Background()
	start := time.Now() // before every login
	for i := range accounts {
		if err := New(pool, accountKey(i), opts).Save(ctx, srv.Login()); err != nil {
			t.Fatal(err)
		}
	}
	epoch := time.Now() // after every login

	// Each process's stores share a pool of their own, of 8 connections.
	// Leases, awaited or held, are on connections of their own, so they
	// never take the pool's from a load or a save; and 4 × (8 + 8) sessions
	// leave the server room.
	children := startChildren(t, processes, childSpec{
		Role: "accounts", URL: url, Table: opts.Table, Goroutines: goroutines, Conns: goroutines,
		Server: srv.URL, Run: run, Accounts: accounts, Epoch: epoch,
	})
	refreshes := make([]int64, accounts)
	requests := make([][]span, accounts)
	var ok, adopted int64
	for _, r := range childReports(t, children) {
		if len(r.Accounts) != accounts {
			t.Fatalf("a child reported %d accounts, want %d", len(r.Accounts), accounts)
		}
		ok += r.OK
		for i, a := range r.Accounts {
			refreshes[i] += a.Refreshes
			requests[i] = append(requests[i], a.Requests...)
			adopted += a.Adopted
		}
	}
	elapsed := time.Since(start)

	st := srv.Stats()
	var total int64
	for _, n := range refreshes {
		total += n
	}
	checkServer(t, st, total)

	// The bounds of each account's refreshes, n, counted across processes.
	//
	// At most: a token is refreshed no sooner than half its lifetime after
	// the server issued it (its stale time is Expiry − lifetime/2, Expiry
	// being set when the response arrived; adopting it does not move that),
	// so the tokens of an account, its login's included, were issued more
	// than lifetime/2 apart, all within elapsed: n × lifetime/2 < elapsed.
	// A refresh per process would be up to four times that.
	//
	// At least: the token a request carried was issued before the request
	// ended, and accepted before lifetime had passed. The login expired by
	// epoch + lifetime, so a request that started later carried a refreshed
	// token; one that started lifetime after another ended, a token issued
	// after that one's (see refreshesNeeded).
	var most, least, fewest int64 = 0, 0, -1
	var over, under []string
	for i, n := range refreshes {
		need := refreshesNeeded(requests[i], lifetime)
		if time.Duration(n)*lifetime/2 >= elapsed {
			over = append(over, fmt.Sprintf("%s: %d", accountKey(i), n))
		}
		if n < need {
			under = append(under, fmt.Sprintf("%s: %d, needed %d", accountKey(i), n, need))
		}
		most = max(most, n)
		least += need
		if fewest < 0 || n < fewest {
			fewest = n
		}
	}
	t.Logf("%d accounts, %d processes × %d goroutines for %v (%v from the logins to the end, %.1f lifetimes of %v): "+
		"%d requests ok; %d refreshes (%.2f per account: %d to %d; at most %d each; at least %d in all), %d adoptions; server: %+v",
		accounts, processes, goroutines, run, elapsed.Round(time.Millisecond), float64(elapsed)/float64(lifetime), lifetime,
		ok, total, float64(total)/accounts, fewest, most, (elapsed-1)/(lifetime/2), least, adopted, st)
	if len(over) > 0 {
		t.Errorf("%d accounts refreshed more than once per half lifetime (%v in %v), the first %s", len(over), lifetime/2, elapsed, over[0])
	}
	if len(under) > 0 {
		t.Errorf("%d accounts refreshed fewer times than their requests needed, the first %s", len(under), under[0])
	}
}

// accountKey returns the key of the account numbered i.
func accountKey(i int) string { return fmt.Sprintf("acct-%04d", i) }

// accountReport is what a child did with one account.
type accountReport struct {
	Refreshes, Adopted int64
	Requests           []span // those that succeeded
}

// span is when a request started, rounded down, and ended, rounded up, in
// milliseconds since childSpec.Epoch.
type span [2]int64

func newSpan(epoch, start, end time.Time) span {
	return span{int64(start.Sub(epoch) / time.Millisecond), int64((end.Sub(epoch) + time.Millisecond - 1) / time.Millisecond)}
}

// refreshesNeeded returns how many refreshed tokens the requests of one
// account needed at least: requests, spans in milliseconds since a time
// by which its login was issued, whose token the server accepted, which it
// does until lifetime after issuing it.
//
// A request that started after the login had expired needs a refreshed
// token; one that started lifetime after a request ended, a token issued
// after the one that request carried. A chain of such requests, each
// starting lifetime after the one before ended, needs that many distinct
// refreshed tokens.
func refreshesNeeded(requests []span, lifetime time.Duration) int64 {
	requests = slices.Clone(requests)
	slices.SortFunc(requests, func(a, b span) int { return cmp.Compare(a[0], b[0]) })
	life := int64(lifetime / time.Millisecond)
	var n int64
	after := life // no token issued before this covers a request starting later
	for _, r := range requests {
		if r[0] > after {
			n++
			after = r[1] + life
		}
	}
	return n
}

// serveAccounts sends requests for random accounts, through a Pool of
// Sources on the accounts' Stores, from spec.Goroutines goroutines.
func serveAccounts(t *testing.T, pool *pgxpool.Pool, spec childSpec) childReport {
	ctx, conf, done := clientContext(spec.Server, spec.Goroutines+spec.Conns)
	defer done()
	opts := &Options{Table: spec.Table}
	// No IdleTimeout: each account keeps its Source, and its Stats.
	sources := tokensource.NewPool(func(key string) *tokensource.Source {
		return tokensource.FromConfig(ctx, conf, New(pool, key, opts), nil)
	}, nil)

	var mu sync.Mutex
	requests := make([][]span, spec.Accounts)
	var tl tally
	var wg sync.WaitGroup
	for range spec.Goroutines {
		wg.Go(func() {
			repeat(spec.Run, func() {
				i := rand.IntN(spec.Accounts)
				start := time.Now()
				err := get(tokensource.NewClient(ctx, sources.Get(accountKey(i))), spec.Server+"/resource")
				end := time.Now()
				tl.add(err)
				if err == nil {
					mu.Lock()
					requests[i] = append(requests[i], newSpan(spec.Epoch, start, end))
					mu.Unlock()
				}
			})
		})
	}
	wg.Wait()
	r := tl.report()
	r.Accounts = make([]accountReport, spec.Accounts)
	for i := range r.Accounts {
		src := sources.Get(accountKey(i))
		// A refresh ahead may still run: let it save its token before exiting.
		if err := src.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := src.Stats()
		r.Accounts[i] = accountReport{Refreshes: st.Refreshes, Adopted: st.Adopted, Requests: requests[i]}
	}
	return r
}
