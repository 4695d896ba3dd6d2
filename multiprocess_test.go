package tokensource

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource/tokensourcetest"
)

// The environment of a child process of TestProcessesShareOneFileStore.
const (
	childFileEnv = "TOKENSOURCE_TEST_CHILD_FILE"
	childURLEnv  = "TOKENSOURCE_TEST_CHILD_URL"
	childRunEnv  = "TOKENSOURCE_TEST_CHILD_RUN"
)

// childReport is what a child process prints when it is done.
type childReport struct {
	OK, Failed int64
	Stats      Stats
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
	if err := NewFileStore(path).Save(context.Background(), srv.Login()); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), run+30*time.Second)
	defer cancel()
	reports := make([]childReport, processes)
	var wg sync.WaitGroup
	for i := range processes {
		wg.Go(func() {
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestProcessChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), childFileEnv+"="+path, childURLEnv+"="+srv.URL, childRunEnv+"="+run.String())
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err != nil {
				t.Errorf("process %d: %v", i, err)
				return
			}
			if err := json.Unmarshal(lastLine(out), &reports[i]); err != nil {
				t.Errorf("process %d: cannot read its report %q: %v", i, out, err)
			}
		})
	}
	wg.Wait()

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
// file, and prints a childReport.
func TestProcessChild(t *testing.T) {
	path := os.Getenv(childFileEnv)
	if path == "" {
		t.Skip("runs only as a child of TestProcessesShareOneFileStore")
	}
	run, err := time.ParseDuration(os.Getenv(childRunEnv))
	if err != nil {
		t.Fatal(err)
	}
	conf := &oauth2.Config{
		ClientID:     tokensourcetest.DefaultClientID,
		ClientSecret: tokensourcetest.DefaultClientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: os.Getenv(childURLEnv) + "/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	base := &http.Transport{}
	defer base.CloseIdleConnections()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base})
	src := FromConfig(ctx, conf, NewFileStore(path), nil)
	client := NewClient(ctx, src)

	var ok, failed atomic.Int64
	deadline := time.Now().Add(run)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				if err := getOK(client, os.Getenv(childURLEnv)+"/resource"); err != nil {
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
	out, _ := json.Marshal(childReport{OK: ok.Load(), Failed: failed.Load(), Stats: src.Stats()})
	fmt.Printf("\n%s\n", out)
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

// lastLine returns the last line of out that holds a JSON object.
func lastLine(out []byte) []byte {
	lines := bytes.Split(out, []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		if bytes.HasPrefix(lines[i], []byte("{")) {
			return lines[i]
		}
	}
	return nil
}
