package redisstore

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// TestManyAccounts has 4 processes of 8 goroutines each serve 1,000
// accounts, one key each in one Redis, through a Pool of Sources, sending
// requests for random accounts for 8 seconds against a server that rotates
// refresh tokens, detects their reuse and issues 4-second access tokens.
// No refresh token may be used twice and no request may fail, and each
// account's grant must be refreshed about once per token lifetime in all,
// not once per process.
func TestManyAccounts(t *testing.T) {
	if testing.Short() {
		t.Skip("runs OS processes for 8 seconds")
	}
	const (
		processes  = 4
		goroutines = 8
		accounts   = 1000
		run        = 8 * time.Second
		// Long enough that a request on a loaded machine reaches the
		// server before the token it carries expires: a Source stops
		// sending a token a quarter of its lifetime before its expiry.
		lifetime = 4 * time.Second
	)
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{AccessTokenLifetime: lifetime})
	defer srv.Close()
	spec := childSpec{Part: "accounts", Key: uniqueKey(t), URL: srv.URL,
		Accounts: accounts, Goroutines: goroutines, Run: run, Pace: 10 * time.Millisecond}

	start := time.Now()
	client := newClient(t)
	logins := make([]*oauth2.Token, accounts)
	for i := range logins {
		logins[i] = srv.Login()
		mustSave(t, New(client, accountKey(spec.Key, i), nil), logins[i])
	}
	children := make([]*storetest.Child, processes)
	for i := range children {
		children[i] = startChild(t, spec)
	}
	var ok, failed int64
	var stats tokensource.Stats
	sent := make([][]int64, accounts)
	for i, c := range children {
		var r childReport
		c.Report(t, &r)
		if r.Failed != 0 {
			t.Logf("process %d: %d requests ok, %d failed; stderr:\n%s", i, r.OK, r.Failed, c.Stderr())
		}
		ok += r.OK
		failed += r.Failed
		stats = addStats(stats, r.Stats)
		for a, times := range r.Sent {
			sent[a] = append(sent[a], times...)
		}
	}
	elapsed := time.Since(start)

	st := srv.Stats()
	if st.ReuseDetected != 0 {
		t.Errorf("the server detected %d reused refresh tokens", st.ReuseDetected)
	}
	if failed != 0 || ok == 0 {
		t.Errorf("%d requests failed, %d succeeded", failed, ok)
	}
	if stats.Refreshes != st.Refreshes {
		t.Errorf("the processes refreshed %d times, the server saw %d", stats.Refreshes, st.Refreshes)
	}
	if stats.Adopted == 0 {
		t.Errorf("no process adopted a token another one refreshed")
	}

	// The bounds on the refreshes n of one account's grant, in all
	// processes.
	//
	// At most: a Source refreshes a token no sooner than half its lifetime
	// after it got it (refresh-ahead starts there; the early expiry is
	// later), and under the lock adopts the stored token instead when
	// another process refreshed meanwhile. The server rejects a token only
	// once it has expired, a whole lifetime after it issued it. So two
	// refreshes of a grant, and the login and the first, are at least
	// lifetime/2 apart, all within elapsed: n ≤ elapsed / (lifetime/2).
	// One refresh per process would be up to 4 times that.
	//
	// At least: a request that got a 200 was sent after its token was issued
	// and reached the server less than a lifetime later, so its send time
	// lies in a window [issued, issued+lifetime) of one of the n+1 tokens
	// of the grant (the login's and the n refreshed ones). If covering the
	// account's send times takes m such windows at the fewest, n ≥ m-1.
	// The windows are widened by 1%: the processes stamp with the wall
	// clock, the server times expiry with its monotonic one.
	hi := int64(elapsed / (lifetime / 2))
	var total, lows, most, bad int64
	fewest := hi
	for a, login := range logins {
		n := srv.FamilyRefreshes(login.RefreshToken)
		lo := windows(sent[a], lifetime+lifetime/100) - 1
		total, lows = total+n, lows+max(lo, 0)
		most, fewest = max(most, n), min(fewest, n)
		if n < lo || n > hi {
			if bad++; bad <= 10 {
				t.Errorf("account %d: %d refreshes, %d requests; want %d to %d", a, n, len(sent[a]), lo, hi)
			}
		}
	}
	if total != st.Refreshes {
		t.Errorf("the grants were refreshed %d times in all, the server saw %d refreshes", total, st.Refreshes)
	}
	t.Logf("%d processes, %d accounts, %v: %d requests ok, %d failed; refreshes per account %d to %d, mean %.2f (%.2f lifetimes elapsed; bounds: at most %d, at least %.2f on average); %d adopted; server: %+v",
		processes, accounts, elapsed.Round(time.Millisecond), ok, failed, fewest, most,
		float64(total)/accounts, float64(elapsed)/float64(lifetime), hi, float64(lows)/accounts, stats.Adopted, st)
}

// windows returns the fewest windows [t, t+d) that cover the instants of
// times, which it sorts.
func windows(times []int64, d time.Duration) int64 {
	slices.Sort(times)
	var n int64
	end := int64(0)
	for i, t := range times {
		if i == 0 || t >= end {
			n++
			end = t + int64(d)
		}
	}
	return n
}

// accountKey returns the key of account i among those under prefix.
func accountKey(prefix string, i int) string {
	return fmt.Sprintf("%s:%d", prefix, i)
}

// playAccounts sends requests for random accounts among spec.Accounts from
// spec.Goroutines goroutines for spec.Run, each through its account's
// Source, which one Pool keeps, and reports when each request got a 200
// was sent.
func playAccounts(t *testing.T, client *redis.Client, spec childSpec) childReport {
	base := &http.Transport{MaxIdleConnsPerHost: spec.Goroutines}
	defer base.CloseIdleConnections()
	pool := tokensource.NewPool(func(key string) *tokensource.Source {
		// Warnings only: every adoption is logged at Info.
		return childSource(client, key, spec, base, slog.LevelWarn)
	}, nil)

	var failed atomic.Int64
	sent := make([][]int64, spec.Accounts)
	var mu sync.Mutex
	deadline := time.Now().Add(spec.Run)
	var wg sync.WaitGroup
	for range spec.Goroutines {
		wg.Go(func() {
			st := &stamp{base: base}
			tr := &tokensource.Transport{Base: st}
			httpClient := &http.Client{Transport: tr}
			for time.Now().Before(deadline) {
				a := rand.N(spec.Accounts)
				tr.Source = pool.Get(accountKey(spec.Key, a))
				if err := get(httpClient, spec.URL+"/resource"); err != nil {
					if failed.Add(1) <= 10 {
						fmt.Fprintf(os.Stderr, "request for account %d failed: %v\n", a, err)
					}
				} else {
					mu.Lock()
					sent[a] = append(sent[a], st.sent)
					mu.Unlock()
				}
				time.Sleep(spec.Pace) // pacing the load, not waiting for an outcome
			}
		})
	}
	wg.Wait()

	r := childReport{Failed: failed.Load(), Sent: sent}
	for a := range spec.Accounts {
		src := pool.Get(accountKey(spec.Key, a))
		// A refresh ahead may still run: let it save its token before exiting.
		if err := src.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		r.Stats = addStats(r.Stats, src.Stats())
		r.OK += int64(len(sent[a]))
	}
	return r
}

// stamp is an http.RoundTripper that notes when it sent the last request
// that its base responded 200. It is for one goroutine.
type stamp struct {
	base http.RoundTripper
	sent int64 // Unix ns
}

func (s *stamp) RoundTrip(req *http.Request) (*http.Response, error) {
	at := time.Now().UnixNano()
	resp, err := s.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusOK {
		s.sent = at
	}
	return resp, err
}

// addStats returns the sum of a and b.
func addStats(a, b tokensource.Stats) tokensource.Stats {
	return tokensource.Stats{
		Refreshes:     a.Refreshes + b.Refreshes,
		RefreshErrors: a.RefreshErrors + b.RefreshErrors,
		Adopted:       a.Adopted + b.Adopted,
		Saves:         a.Saves + b.Saves,
		SaveErrors:    a.SaveErrors + b.SaveErrors,
		Invalidations: a.Invalidations + b.Invalidations,
	}
}
