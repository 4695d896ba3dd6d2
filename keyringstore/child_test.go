package keyringstore

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// A childSpec says what a child process does (this test binary, run
// again by a test to play another process of the user); TestChild reads
// it.
type childSpec struct {
	Part      string // see TestChild
	Service   string
	LockPath  string
	ChunkSize int
	Rounds    int
	Counter   string        // lock-increment: the file of the counter
	Timeout   time.Duration // bounded: the ctx of each call
}

// An opResult is what a child saw of one call.
type opResult struct {
	Err                             string
	StoreError, NoKeyring, Deadline bool
	Took                            time.Duration
}

// startChild runs TestChild in a new process of the test binary, with
// spec, in the environment of this one with env added; in a command of
// its own when wrap is not nil: wrap returns the command that runs the
// binary's command line. The process is killed when t ends, if it still
// runs.
func startChild(t *testing.T, spec childSpec, env []string, wrap func(argv []string) *exec.Cmd) *storetest.Child {
	t.Helper()
	return storetest.StartChild(t, "TestChild", spec, &storetest.ChildOptions{
		Env:  append([]string{inSessionEnv + "=1"}, env...),
		Wrap: wrap,
	})
}

// TestChild is not a test: run by the tests in a child process, it plays
// the part its childSpec names.
func TestChild(t *testing.T) {
	var spec childSpec
	if !storetest.ChildSpec(t, &spec) {
		t.Skip("runs only as a child process of the tests")
	}
	s := New(spec.Service, testUser, &Options{LockPath: spec.LockPath, ChunkSize: spec.ChunkSize})
	ctx := testCtx(t)
	switch spec.Part {
	case "hold-lock":
		// Takes the lock, says so, and holds it until its stdin closes.
		unlock, err := s.Lock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println("locked")
		bufio.NewReader(os.Stdin).ReadString('\n')
		unlock()
	case "lock-increment":
		// Adds one to the counter in a file, Rounds times, each under the
		// lock, by a read and a write: two holders at once lose one.
		for range spec.Rounds {
			unlock, err := s.Lock(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := incrementFile(spec.Counter); err != nil {
				t.Fatal(err)
			}
			unlock()
		}
	case "cas-increment":
		// Writes the next generation of the record, Rounds times, by
		// compare-and-swap.
		for range spec.Rounds {
			if err := nextGeneration(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
	case "save-loop":
		// Saves records of many chunks until it is killed.
		for i := 0; ; i++ {
			fmt.Println("saving", i)
			if err := s.Save(ctx, sampleToken(strconv.Itoa(i), 1500+i%7*100)); err != nil {
				t.Fatal(err)
			}
		}
	case "calls":
		// Calls each method, with a ctx of Timeout, and replies what
		// each returned.
		storetest.Reply(t, callEach(s, spec.Timeout))
	default:
		t.Fatalf("unknown part %q", spec.Part)
	}
}

// incrementFile adds one to the number in the file at path (none: 0).
func incrementFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	n, _ := strconv.Atoi(string(data))
	time.Sleep(time.Millisecond) // a moment for another holder to overlap
	return os.WriteFile(path, []byte(strconv.Itoa(n+1)), 0o600)
}

// nextGeneration replaces the record of s with one of the next
// generation, by compare-and-swap, trying again on a conflict.
func nextGeneration(ctx context.Context, s *Store) error {
	for {
		prev, err := s.Get(ctx)
		var gen int64
		switch {
		case errors.Is(err, tokensource.ErrNotFound):
			prev = nil
		case err != nil:
			return err
		default:
			rec, err := tokensource.DecodeRecord(prev)
			if err != nil {
				return err
			}
			gen = rec.Generation
		}
		next, err := tokensource.EncodeRecord(&tokensource.Record{Generation: gen + 1, Token: sampleToken(strconv.FormatInt(gen+1, 10), 300)})
		if err != nil {
			return err
		}
		err = s.Put(ctx, prev, next)
		if !errors.Is(err, tokensource.ErrConflict) {
			return err
		}
	}
}

// callEach calls each method of s that reaches the keyring, each with a
// ctx that ends after timeout, and says what each returned.
func callEach(s *Store, timeout time.Duration) map[string]opResult {
	calls := map[string]func(context.Context) error{
		"Load":   func(ctx context.Context) error { _, err := s.Load(ctx); return err },
		"Save":   func(ctx context.Context) error { return s.Save(ctx, sampleToken("child", 100)) },
		"Delete": func(ctx context.Context) error { return s.Delete(ctx) },
		"Get":    func(ctx context.Context) error { _, err := s.Get(ctx); return err },
		"Put":    func(ctx context.Context) error { return s.Put(ctx, nil, []byte(`{"access_token":"secret-at-put"}`)) },
	}
	out := make(map[string]opResult)
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		start := time.Now()
		err := call(ctx)
		took := time.Since(start)
		cancel()
		r := opResult{Took: took, NoKeyring: errors.Is(err, ErrNoKeyring), Deadline: errors.Is(err, context.DeadlineExceeded)}
		if err != nil {
			var se *tokensource.StoreError
			r.Err, r.StoreError = err.Error(), errors.As(err, &se)
		}
		out[name] = r
	}
	return out
}

// childDirs returns the environment of a child in a directory of its
// own, under t's temporary directory: its HOME and XDG directories, so
// that what it writes (lock files, keyrings) is found there.
func childDirs(t *testing.T) (dir string, env []string) {
	dir = t.TempDir()
	env = []string{"HOME=" + dir}
	for _, xdg := range []string{"XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"} {
		sub := filepath.Join(dir, strings.ToLower(xdg))
		if err := os.Mkdir(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		env = append(env, xdg+"="+sub)
	}
	return dir, env
}
