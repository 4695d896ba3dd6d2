package pgstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// childSpec says what a child process does: this test binary, run again
// to run TestChild.
type childSpec struct {
	Role            string // "requests", "locker" or "accounts"
	URL, Table, Key string // the store
	Name            string // the application_name of its sessions
	Goroutines      int
	Conns           int // the pool's MaxConns; 0: pgxpool's default

	// requests: the tokensourcetest server's URL; for how long to send
	// requests (0: one request per goroutine); the Source's RefreshTimeout.
	Server         string
	Run            time.Duration
	RefreshTimeout time.Duration

	// locker: how many times each goroutine locks, and the counter table.
	Rounds  int
	Counter string

	// accounts: the keys are accountKey(0) to accountKey(Accounts-1);
	// request times are reported in milliseconds since Epoch.
	Accounts int
	Epoch    time.Time
}

// childReport is what a child replies when it is done.
type childReport struct {
	OK, Failed int64
	Reauth     int64  // failures that wrap ErrReauthRequired
	FirstError string // the first failure, if any
	Stats      tokensource.Stats
	Accounts   []accountReport // accounts: by account number
}

// child is a running child process, named by its spec.
type child struct {
	*storetest.Child
	name string
}

// childReports waits for children to exit and returns their reports. It
// fails t if a child could not report, and reports each child's failed
// requests or rounds.
func childReports(t *testing.T, children []*child) []childReport {
	t.Helper()
	reports := make([]childReport, len(children))
	for i, ch := range children {
		r := &reports[i]
		ch.Report(t, r)
		if r.Failed != 0 {
			t.Errorf("%s: %d of %d failed, the first with: %s", ch.name, r.Failed, r.OK+r.Failed, r.FirstError)
		}
	}
	return reports
}

// checkServer fails t if the server, st, saw a refresh token reused,
// accepted no request, or made other refreshes than the processes counted.
func checkServer(t *testing.T, st tokensourcetest.Stats, refreshes int64) {
	t.Helper()
	if st.ReuseDetected != 0 {
		t.Errorf("the server detected %d reused refresh tokens", st.ReuseDetected)
	}
	if st.Resource200 == 0 {
		t.Error("no request succeeded")
	}
	if refreshes != st.Refreshes {
		t.Errorf("the processes refreshed %d times, the server saw %d", refreshes, st.Refreshes)
	}
}

// startChildren starts n children that do spec, named child-0 to
// child-n-1. They are killed when the test ends, if they still run.
func startChildren(t *testing.T, n int, spec childSpec) []*child {
	t.Helper()
	children := make([]*child, n)
	for i := range children {
		spec.Name = fmt.Sprintf("child-%d", i)
		children[i] = &child{storetest.StartChild(t, "TestChild", spec, nil), spec.Name}
	}
	return children
}

// TestChild is a child process of another test; see childSpec.
func TestChild(t *testing.T) {
	var spec childSpec
	if !storetest.ChildSpec(t, &spec) {
		t.Skip("runs only as a child process of another test")
	}
	pool := newPool(t, spec.URL, func(c *pgxpool.Config) {
		c.ConnConfig.RuntimeParams["application_name"] = spec.Name
		if spec.Conns > 0 {
			c.MaxConns = int32(spec.Conns)
		}
	})
	store := func() *Store { return New(pool, spec.Key, &Options{Table: spec.Table}) }
	var r childReport
	switch spec.Role {
	case "requests":
		r = sendRequests(t, store(), spec)
	case "locker":
		// The counter has a pool of its own: waiters hold the store's
		// connections while they wait.
		r = lockRounds(store(), &counter{pool: newPool(t, spec.URL, nil), table: spec.Counter}, spec)
	case "accounts":
		r = serveAccounts(t, pool, spec)
	default:
		t.Fatalf("unknown role %q", spec.Role)
	}
	storetest.Reply(t, r)
}

// sendRequests sends requests to the protected resource through a Source
// on store, from spec.Goroutines goroutines.
func sendRequests(t *testing.T, store *Store, spec childSpec) childReport {
	ctx, conf, done := clientContext(spec.Server, spec.Goroutines)
	defer done()
	src := tokensource.FromConfig(ctx, conf, store, &tokensource.Options{RefreshTimeout: spec.RefreshTimeout})
	client := tokensource.NewClient(ctx, src)

	var tl tally
	var wg sync.WaitGroup
	for range spec.Goroutines {
		wg.Go(func() {
			repeat(spec.Run, func() { tl.add(get(client, spec.Server+"/resource")) })
		})
	}
	wg.Wait()
	// A refresh ahead may still run: let it save its token before exiting.
	if err := src.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := tl.report()
	r.Stats = src.Stats()
	return r
}

// clientContext returns a context that carries an HTTP client of conns
// connections for the token endpoint of server, the configuration of the
// server's client, and a function that closes the client's connections.
func clientContext(server string, conns int) (context.Context, *oauth2.Config, func()) {
	base := &http.Transport{MaxIdleConnsPerHost: conns}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base})
	conf := &oauth2.Config{
		ClientID:     tokensourcetest.DefaultClientID,
		ClientSecret: tokensourcetest.DefaultClientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: server + "/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	return ctx, conf, base.CloseIdleConnections
}

// repeat calls f until run has passed, at least once.
func repeat(run time.Duration, f func()) {
	deadline := time.Now().Add(run)
	for {
		f()
		if !time.Now().Before(deadline) {
			return
		}
		time.Sleep(5 * time.Millisecond) // paces the workload; no outcome depends on it
	}
}

// tally counts the outcomes of a child's requests or rounds.
type tally struct {
	ok, failed, reauth atomic.Int64
	firstErr           sync.Once
	first              string
}

// add counts the outcome err.
func (tl *tally) add(err error) {
	if err == nil {
		tl.ok.Add(1)
		return
	}
	tl.failed.Add(1)
	if errors.Is(err, tokensource.ErrReauthRequired) {
		tl.reauth.Add(1)
	}
	tl.firstErr.Do(func() { tl.first = err.Error() })
}

// report returns the counts, once every add has returned.
func (tl *tally) report() childReport {
	return childReport{OK: tl.ok.Load(), Failed: tl.failed.Load(), Reauth: tl.reauth.Load(), FirstError: tl.first}
}

func get(c *http.Client, url string) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}

// lockRounds runs spec.Rounds critical sections of c under store's lock,
// from spec.Goroutines goroutines.
func lockRounds(store *Store, c *counter, spec childSpec) childReport {
	var tl tally
	var wg sync.WaitGroup
	for range spec.Goroutines {
		wg.Go(func() {
			ctx := context.Background()
			for range spec.Rounds {
				unlock, err := store.Lock(ctx)
				if err == nil {
					err = c.critical(ctx)
					unlock()
				}
				tl.add(err)
			}
		})
	}
	wg.Wait()
	return tl.report()
}
