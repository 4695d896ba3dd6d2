package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// TestMain runs the second process of phase 3 when the demo, here the test
// binary, runs itself again; otherwise it runs the tests, and fails if one
// leaves a goroutine behind. Like main, it silences go-redis's log.
func TestMain(m *testing.M) {
	redis.SetLogger(quietRedis{})
	if env, ok := os.LookupEnv(childEnv); ok {
		os.Exit(runChild(env, os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// syncBuffer is a bytes.Buffer that the demo's printer, its loggers and
// the second process's output can write to at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// runDemo runs the demo in this process with args, and returns its exit
// status and output (stdout and stderr together, logs included).
func runDemo(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(args, &out, &out) }()
	select {
	case code := <-done:
		return code, out.String()
	case <-time.After(2 * time.Minute):
		t.Fatalf("the demo did not end; output so far:\n%s", out.String())
		panic("unreachable")
	}
}

// tokenValue matches the access and refresh tokens tokensourcetest issues:
// a prefix and crypto/rand.Text's 26 base32 characters.
var tokenValue = regexp.MustCompile(`(at|rt)_[A-Z2-7]{26}`)

// checkSuccess fails the test unless the demo ended well, and checks that
// its output, logs of both processes included, shows no token value.
func checkSuccess(t *testing.T, code int, out string) {
	t.Helper()
	if code != 0 {
		t.Fatalf("exit status %d; output:\n%s", code, out)
	}
	for _, want := range []string{
		" 0 failed (",
		"reuse detected  0 ",
		"logins          1;",
		"the browser opened 1 time(s), the server exchanged 1 code(s)",
		"logged out      true:",
		"[other process] ", // -v: the second process logged through its stderr
		"ok: every request succeeded",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if tok := tokenValue.FindString(out); tok != "" {
		t.Errorf("output shows a token value:\n%s", out)
	}
	// While both processes work, one of them refreshes and the other takes
	// the token it saved.
	m := regexp.MustCompile(`(?m)^  adopted         (\d+) times`).FindStringSubmatch(out)
	if m == nil || m[1] == "0" {
		t.Errorf("no Source adopted a token the other process saved:\n%s", out)
	}
}

// tokenFile returns the token file path the demo printed.
func tokenFile(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  store       file (.+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no token file in the output:\n%s", out)
	}
	return m[1]
}

func TestDemo(t *testing.T) {
	code, out := runDemo(t, "-duration=1500ms", "-lifetime=1s", "-workers=8", "-v")
	checkSuccess(t, code, out)

	// Without -dir, the token file's temporary directory is gone.
	path := tokenFile(t, out)
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the temporary directory of %s is still there (%v)", path, err)
	}
}

func TestDemoDPoP(t *testing.T) {
	code, out := runDemo(t, "-dpop", "-duration=1500ms", "-lifetime=1s", "-workers=8", "-v")
	checkSuccess(t, code, out)
	if !strings.Contains(out, "; 0 proofs refused,") {
		t.Errorf("the report does not show DPoP with no refused proof:\n%s", out)
	}
}

func TestDemoKeepsDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "tokens")
	code, out := runDemo(t, "-dir="+dir, "-duration=1s", "-lifetime=1s", "-workers=4", "-v")
	checkSuccess(t, code, out)

	path := filepath.Join(dir, "token.json")
	if got := tokenFile(t, out); got != path {
		t.Errorf("the demo used %s, want %s", got, path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("the token file is not kept: %v", err)
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %#o, want 0600", fi.Mode().Perm())
	}
}

func TestDemoFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-lifetime=500ms"},
		{"-duration=0"},
		{"-workers=0"},
		{"extra"},
		{"-nosuchflag"},
		{"-store=mysql://localhost/db"},
		{"-store=localhost:6379"},
		{"-store=redis://localhost:6379/notadb"},
		{"-store=postgres://localhost:notaport/db"},
		{"-store=redis://localhost:6379/0", "-dir=tokens"},
		{"-keep"},
	} {
		var out syncBuffer
		if code := run(args, &out, &out); code != 2 {
			t.Errorf("run(%q) = %d, want 2; output:\n%s", args, code, out.String())
		}
	}
	var out syncBuffer
	if code := run([]string{"-h"}, &out, &out); code != 0 || !strings.Contains(out.String(), "go -C cmd/demo run .") || !strings.Contains(out.String(), "-store") {
		t.Errorf("run(-h) = %d, output:\n%s", code, out.String())
	}
}
