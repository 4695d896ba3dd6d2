package redisstore

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
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

// A childSpec says what a child process does (this test binary, run
// again by a test to play another replica); TestChild reads it.
type childSpec struct {
	Part    string        // "replica", "increment", "refresh" or "accounts"
	Key     string        // the Store's key; accounts: the prefix of the keys
	URL     string        // the tokensourcetest server, for replica and refresh
	LockTTL time.Duration // the Store's Options.LockTTL

	// replica: Goroutines send requests for Run, each pausing Pace between two.
	Goroutines int
	Run, Pace  time.Duration
	// increment: Goroutines each take the lock Rounds times.
	Rounds int
	// refresh: after the token response, say "responded" and hang.
	HangAfterResponse bool
	// accounts: the keys are Key+":0" to Key+":<Accounts-1>".
	Accounts int
}

// A childReport is what a child replies.
type childReport struct {
	OK, Failed int64
	Stats      tokensource.Stats
	Err        string // refresh: the error of Token, or ""
	// accounts: for each account, when the requests that got a 200 were
	// sent through the Source's Transport, in Unix ns.
	Sent [][]int64
}

// startChild runs TestChild in a new process of the test binary, with spec.
// The process is killed when t ends, if it still runs.
func startChild(t *testing.T, spec childSpec) *storetest.Child {
	t.Helper()
	return storetest.StartChild(t, "TestChild", spec, nil)
}

// TestChild is not a test: run by the tests above in a child process, it
// plays the part its childSpec names, and replies a childReport.
func TestChild(t *testing.T) {
	var spec childSpec
	if !storetest.ChildSpec(t, &spec) {
		t.Skip("runs only as a child process of the multi-process tests")
	}
	client := newClient(t)
	var r childReport
	switch spec.Part {
	case "replica":
		r = playReplica(t, client, spec)
	case "increment":
		playIncrement(t, client, spec)
	case "refresh":
		r = playRefresh(t, client, spec)
	case "accounts":
		r = playAccounts(t, client, spec)
	default:
		t.Fatalf("unknown part %q", spec.Part)
	}
	storetest.Reply(t, r)
}

// childSource returns a Source on key and spec's token server, logging to
// stderr from level on, whose HTTP transport is base.
func childSource(client *redis.Client, key string, spec childSpec, base http.RoundTripper, level slog.Level) *tokensource.Source {
	conf := &oauth2.Config{
		ClientID:     tokensourcetest.DefaultClientID,
		ClientSecret: tokensourcetest.DefaultClientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: spec.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base})
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	store := New(client, key, &Options{LockTTL: spec.LockTTL})
	return tokensource.FromConfig(ctx, conf, store, &tokensource.Options{Logger: log})
}

// playReplica sends requests to the resource from spec.Goroutines
// goroutines for spec.Run, through a Source on the shared key.
func playReplica(t *testing.T, client *redis.Client, spec childSpec) childReport {
	base := &http.Transport{MaxIdleConnsPerHost: spec.Goroutines}
	defer base.CloseIdleConnections()
	src := childSource(client, spec.Key, spec, base, slog.LevelInfo)
	httpClient := &http.Client{Transport: &tokensource.Transport{Source: src, Base: base}}

	var ok, failed atomic.Int64
	deadline := time.Now().Add(spec.Run)
	var wg sync.WaitGroup
	for range spec.Goroutines {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := get(httpClient, spec.URL+"/resource"); err != nil {
					if failed.Add(1) <= 10 {
						fmt.Fprintln(os.Stderr, "request failed:", err)
					}
				} else {
					ok.Add(1)
				}
				time.Sleep(spec.Pace) // pacing the load, not waiting for an outcome
			}
		})
	}
	wg.Wait()
	// A refresh ahead may still run: let it save its token before exiting.
	if err := src.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	return childReport{OK: ok.Load(), Failed: failed.Load(), Stats: src.Stats()}
}

// playIncrement has spec.Goroutines goroutines, each with a Store of its
// own, increment the counter spec.Key+":counter" spec.Rounds times each,
// under the lock.
func playIncrement(t *testing.T, client *redis.Client, spec childSpec) {
	ctx := context.Background()
	var wg sync.WaitGroup
	for range spec.Goroutines {
		s := New(client, spec.Key, nil)
		wg.Go(func() {
			for range spec.Rounds {
				unlock, err := lockWithin(s)
				if err != nil {
					t.Error(err)
					return
				}
				if err := increment(ctx, client, spec.Key+":counter"); err != nil {
					t.Error(err)
				}
				unlock()
			}
		})
	}
	wg.Wait()
}

// playRefresh gets one token through a Source on the shared key, and
// reports how it went. With spec.HangAfterResponse, it hangs once the token
// endpoint has responded to the refresh, before the Source sees the response.
func playRefresh(t *testing.T, client *redis.Client, spec childSpec) childReport {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	base := http.RoundTripper(tr)
	if spec.HangAfterResponse {
		base = hangAfterResponse{base}
	}
	src := childSource(client, spec.Key, spec, base, slog.LevelInfo)
	var r childReport
	if _, err := src.Token(); err != nil {
		r.Err = err.Error()
	}
	// A process exits only once its lease is given back: otherwise the
	// others wait for its TTL.
	ctx, cancel := context.WithTimeout(context.Background(), hangBound)
	defer cancel()
	src.Wait(ctx)
	r.Stats = src.Stats()
	return r
}

// hangAfterResponse is an http.RoundTripper that reads a token response
// whole, says "responded" on stdout, and never returns: a process that dies
// there has had its refresh token rotated but never saved the new one.
type hangAfterResponse struct{ base http.RoundTripper }

func (h hangAfterResponse) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := h.base.RoundTrip(req)
	if err == nil {
		var buf bytes.Buffer
		buf.ReadFrom(resp.Body)
		fmt.Println("responded")
		select {}
	}
	return resp, err
}

// TestLockExcludesAcrossProcesses has 4 processes, each with 5 goroutines
// with a Store of their own, increment a counter in Redis by read and write
// under the lock of one key: an increment lost to an overlap shows.
func TestLockExcludesAcrossProcesses(t *testing.T) {
	const processes, goroutines, rounds = 4, 5, 10
	client := newClient(t)
	spec := childSpec{Part: "increment", Key: uniqueKey(t), Goroutines: goroutines, Rounds: rounds}
	children := make([]*storetest.Child, processes)
	for i := range children {
		children[i] = startChild(t, spec)
	}
	for _, c := range children {
		c.Report(t, nil)
	}
	want := fmt.Sprint(processes * goroutines * rounds)
	if got := client.Get(context.Background(), spec.Key+":counter").Val(); got != want {
		t.Errorf("counter = %s after %s increments under the lock", got, want)
	}
}

// TestReplicas runs 4 processes of 50 goroutines each that send requests
// through Sources on one key, for 6 seconds, against a server that rotates
// refresh tokens, detects their reuse and issues 1-second access tokens.
// No refresh token may be used twice and no request may fail, and the
// server must see about one refresh per token lifetime in all, not one per
// process.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("runs OS processes for 6 seconds")
	}
	const (
		processes = 4
		run       = 6 * time.Second
		lifetime  = time.Second
	)
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{AccessTokenLifetime: lifetime})
	defer srv.Close()
	spec := childSpec{Part: "replica", Key: uniqueKey(t), URL: srv.URL,
		Goroutines: 50, Run: run, Pace: 100 * time.Millisecond}
	mustSave(t, New(newClient(t), spec.Key, nil), srv.Login())

	children := make([]*storetest.Child, processes)
	for i := range children {
		children[i] = startChild(t, spec)
	}
	var ok, failed, refreshes, adopted int64
	for i, c := range children {
		var r childReport
		c.Report(t, &r)
		if r.Failed != 0 {
			t.Logf("process %d: %+v; stderr:\n%s", i, r, c.Stderr())
		}
		ok += r.OK
		failed += r.Failed
		refreshes += r.Stats.Refreshes
		adopted += r.Stats.Adopted
	}

	st := srv.Stats()
	t.Logf("%d processes: %d requests ok, %d failed; %d refreshes, %d adopted; server: %+v",
		processes, ok, failed, refreshes, adopted, st)
	if st.ReuseDetected != 0 {
		t.Errorf("the server detected %d reused refresh tokens", st.ReuseDetected)
	}
	if failed != 0 || ok == 0 {
		t.Errorf("%d requests failed, %d succeeded", failed, ok)
	}
	if refreshes != st.Refreshes {
		t.Errorf("the processes refreshed %d times, the server saw %d", refreshes, st.Refreshes)
	}
	// Requests succeeded for the whole run, so a token was refreshed at
	// least once per lifetime after the first; and none is refreshed
	// before half of its lifetime: at most run/(lifetime/2), plus one at
	// the start. One refresh per process would be 4 times that.
	if lo, hi := int64(run/lifetime)-1, int64(run/(lifetime/2))+1; st.Refreshes < lo || st.Refreshes > hi {
		t.Errorf("%d refreshes in %v of %v tokens; want %d to %d", st.Refreshes, run, lifetime, lo, hi)
	}
	if adopted == 0 {
		t.Errorf("no process adopted a token another one refreshed")
	}
}
