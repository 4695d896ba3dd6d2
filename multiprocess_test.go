package tokensource_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// processSpec is what a child process of TestProcessesShareOneFileStore
// does: for Run, it sends requests to the server at URL through a Source
// on the token file at Path.
type processSpec struct {
	Path, URL string
	Run       time.Duration
}

// processReport is what a child process replies when it is done.
type processReport struct {
	OK, Failed int64
	Stats      tokensource.Stats
}

// TestProcessesShareOneFileStore runs several OS processes (this test
// binary, re-run) that share one token file against a server that rotates
// refresh tokens, detects their reuse and issues 2-second access tokens.
// The file's lock must make them refresh one at a time and adopt each
// other's tokens: no reuse, and about one refresh per token lifetime in
// all, not one per process.
func TestProcessesShareOneFileStore(t *testing.T) {
	if testing.Short() {
		t.Skip("runs OS processes for a few seconds")
	}
	const (
		processes = 3
		run       = 3 * time.Second
		lifetime  = 2 * time.Second
	)
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{AccessTokenLifetime: lifetime})
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "token.json")
	if err := tokensource.NewFileStore(path).Save(context.Background(), srv.Login()); err != nil {
		t.Fatal(err)
	}

	children := make([]*storetest.Child, processes)
	for i := range children {
		children[i] = storetest.StartChild(t, "TestProcessChild", processSpec{Path: path, URL: srv.URL, Run: run}, nil)
	}
	reports := make([]processReport, processes)
	for i, c := range children {
		c.Report(t, &reports[i])
		if reports[i].Failed != 0 {
			t.Logf("process %d: %+v; stderr:\n%s", i, reports[i], c.Stderr())
		}
	}

	var ok, failed, adopted, refreshes int64
	for _, r := range reports {
		ok += r.OK
		failed += r.Failed
		adopted += r.Stats.Adopted
		refreshes += r.Stats.Refreshes
	}
	st := srv.Stats()
	t.Logf("%d processes: %d requests ok, %d failed; %d refreshes, %d adopted; server: %+v", processes, ok, failed, refreshes, adopted, st)
	if st.ReuseDetected != 0 {
		t.Errorf("the server detected %d reused refresh tokens", st.ReuseDetected)
	}
	if failed != 0 || ok == 0 {
		t.Errorf("%d requests failed, %d succeeded", failed, ok)
	}
	if refreshes != st.Refreshes {
		t.Errorf("the processes refreshed %d times, the server saw %d", refreshes, st.Refreshes)
	}
	// A token is refreshed no sooner than half its life after it is issued:
	// at most run/(lifetime/2) refreshes in all, plus one for the process
	// start; a refresh per process would be three times that.
	if limit := int64(run/(lifetime/2)) + 1; st.Refreshes > limit || st.Refreshes == 0 {
		t.Errorf("%d refreshes in %v of %v tokens; want 1 to %d", st.Refreshes, run, lifetime, limit)
	}
	if adopted == 0 {
		t.Errorf("no process adopted a token another one refreshed")
	}
}

// TestProcessChild is the child process of TestProcessesShareOneFileStore:
// it sends requests from a few goroutines through a Source on the shared
// file, and replies a processReport.
func TestProcessChild(t *testing.T) {
	var spec processSpec
	if !storetest.ChildSpec(t, &spec) {
		t.Skip("runs only as a child of TestProcessesShareOneFileStore")
	}
	conf := &oauth2.Config{
		ClientID:     tokensourcetest.DefaultClientID,
		ClientSecret: tokensourcetest.DefaultClientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: spec.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base})
	src := tokensource.FromConfig(ctx, conf, tokensource.NewFileStore(spec.Path), nil)
	client := tokensource.NewClient(ctx, src)

	var ok, failed atomic.Int64
	deadline := time.Now().Add(spec.Run)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := getOK(client, spec.URL+"/resource"); err != nil {
					failed.Add(1)
					fmt.Fprintln(os.Stderr, "request failed:", err)
					continue
				}
				ok.Add(1)
				time.Sleep(5 * time.Millisecond) // pace the workload, not a wait for an outcome
			}
		})
	}
	wg.Wait()
	// A refresh ahead may still run: let it save its token before exiting.
	if err := src.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	storetest.Reply(t, processReport{OK: ok.Load(), Failed: failed.Load(), Stats: src.Stats()})
}

func getOK(c *http.Client, url string) error {
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
