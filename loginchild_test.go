package tokensource_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// The environment of a child process of the login tests: TestLoginChild,
// this test binary run again.
const (
	lfChildModeEnv     = "TOKENSOURCE_LOGIN_CHILD_MODE"     // "once" or "fail"
	lfChildFileEnv     = "TOKENSOURCE_LOGIN_CHILD_FILE"     // the token file
	lfChildURLEnv      = "TOKENSOURCE_LOGIN_CHILD_URL"      // the test server's URL
	lfChildNowEnv      = "TOKENSOURCE_LOGIN_CHILD_NOW"      // "fail": the child's clock, RFC 3339, standing still
	lfChildCooldownEnv = "TOKENSOURCE_LOGIN_CHILD_COOLDOWN" // "fail": Options.LoginCooldown
)

// What a child prints on its standard output, each on a line of its own:
// lfReadyLine once its Source is made (then it waits for a line on its
// standard input before calling TokenContext), and lfReportPrefix followed
// by its lfChildReport in JSON when it is done.
const (
	lfReadyLine    = "LOGINCHILD READY"
	lfReportPrefix = "LOGINCHILD REPORT "
)

// lfChildReport is what a child did.
type lfChildReport struct {
	Calls    int64             // calls of its LoginFunc
	Stats    tokensource.Stats // its Source's
	Access   string            // tokensource.Fingerprint of the access token it got; "" on error
	Err      string            // the error TokenContext returned; "" for none
	Reauth   bool              // the error wraps ErrReauthRequired
	LoginErr bool              // the error wraps its LoginFunc's error
}

// TestLoginChild is the child process of TestLoginOnceAcrossProcesses
// (mode "once": a LoginFunc taking 300ms that logs in with the password
// grant) and TestLoginCooldownAcrossProcesses (mode "fail": a LoginFunc
// that fails, on a clock standing still). Its Source shares the parent's
// token file; it calls TokenContext once, when the parent says go, and
// reports.
func TestLoginChild(t *testing.T) {
	mode := os.Getenv(lfChildModeEnv)
	if mode == "" {
		t.Skip("runs only as a child process of the login tests")
	}
	path, base := os.Getenv(lfChildFileEnv), os.Getenv(lfChildURLEnv)
	conf := &oauth2.Config{
		ClientID:     tokensourcetest.DefaultClientID,
		ClientSecret: tokensourcetest.DefaultClientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: base + "/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tr})

	var calls atomic.Int64
	errClosed := errors.New("the user closed the login tab")
	opts := &tokensource.Options{}
	switch mode {
	case "once":
		opts.Login = func(lctx context.Context) (*oauth2.Token, error) {
			calls.Add(1)
			timer := time.NewTimer(300 * time.Millisecond) // the user, clicking
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-lctx.Done():
				return nil, lctx.Err()
			}
			// lctx carries the caller's values: the HTTP client too.
			return conf.PasswordCredentialsToken(lctx, tokensourcetest.Username, tokensourcetest.Password)
		}
	case "fail":
		now, err := time.Parse(time.RFC3339Nano, os.Getenv(lfChildNowEnv))
		if err != nil {
			t.Fatal(err)
		}
		cooldown, err := time.ParseDuration(os.Getenv(lfChildCooldownEnv))
		if err != nil {
			t.Fatal(err)
		}
		opts.Now = func() time.Time { return now }
		opts.LoginCooldown = cooldown
		opts.Login = func(context.Context) (*oauth2.Token, error) {
			calls.Add(1)
			return nil, errClosed
		}
	default:
		t.Fatalf("unknown mode %q", mode)
	}
	src := tokensource.FromConfig(ctx, conf, tokensource.NewFileStore(path), opts)

	fmt.Println(lfReadyLine)
	read := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(os.Stdin).ReadString('\n')
		read <- err
	}()
	select {
	case err := <-read:
		if err != nil {
			t.Fatalf("waiting for the parent's go: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the parent never said go")
	}

	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tok, err := src.TokenContext(tctx)
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := src.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	rep := lfChildReport{Calls: calls.Load(), Stats: src.Stats()}
	if err != nil {
		rep.Err = err.Error()
		rep.Reauth = errors.Is(err, tokensource.ErrReauthRequired)
		rep.LoginErr = errors.Is(err, errClosed)
	} else {
		rep.Access = tokensource.Fingerprint(tok.AccessToken)
	}
	out, _ := json.Marshal(rep)
	fmt.Printf("%s%s\n", lfReportPrefix, out)
}

// lfChild is a running child process: TestLoginChild.
type lfChild struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string   // its lines that begin with "LOGINCHILD "
	eof    chan struct{} // closed when its standard output ends
	stderr bytes.Buffer  // read only after eof and cmd.Wait

	mu    sync.Mutex
	other []string // its other lines, for the log
	wait  sync.Once
	err   error
}

// lfStartChild starts TestLoginChild with env added to this process's
// environment, and waits, bounded, for its ready line. It is killed, if
// still running, when t ends.
func lfStartChild(t *testing.T, env ...string) *lfChild {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c := &lfChild{lines: make(chan string, 16), eof: make(chan struct{})}
	c.cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLoginChild$", "-test.count=1")
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stderr = &c.stderr
	c.cmd.WaitDelay = 5 * time.Second
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		cancel()
		t.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() {
		defer close(c.eof)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "LOGINCHILD ") {
				c.lines <- line // a child prints two of them
			} else {
				c.mu.Lock()
				c.other = append(c.other, line)
				c.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel() // kills it if it still runs
		c.finish()
	})
	if line := c.next(t); line != lfReadyLine {
		t.Fatalf("the child's first line is %q, want %q", line, lfReadyLine)
	}
	return c
}

// next returns the child's next line, bounded.
func (c *lfChild) next(t *testing.T) string {
	t.Helper()
	select {
	case line := <-c.lines:
		return line
	case <-c.eof:
		select {
		case line := <-c.lines:
			return line
		default:
		}
		t.Fatalf("the child ended without its line: %v\nstdout: %q\nstderr: %s", c.finish(), c.otherLines(), c.stderr.String())
	case <-time.After(time.Minute):
		t.Fatal("timed out waiting for a line of the child")
	}
	panic("unreachable")
}

// begin tells the child to call TokenContext.
func (c *lfChild) begin(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, "go\n"); err != nil {
		t.Fatalf("telling the child to go: %v", err)
	}
}

// report reads the child's report and waits for it to exit, which it must
// do successfully.
func (c *lfChild) report(t *testing.T) lfChildReport {
	t.Helper()
	line := c.next(t)
	data, ok := strings.CutPrefix(line, lfReportPrefix)
	if !ok {
		t.Fatalf("the child printed %q, want its report", line)
	}
	var rep lfChildReport
	if err := json.Unmarshal([]byte(data), &rep); err != nil {
		t.Fatalf("cannot read the child's report %q: %v", data, err)
	}
	if err := c.finish(); err != nil {
		t.Fatalf("the child failed: %v\nstdout: %q\nstderr: %s", err, c.otherLines(), c.stderr.String())
	}
	return rep
}

// finish closes the child's input, waits for its output to end and for it
// to exit, once, and returns how it exited.
func (c *lfChild) finish() error {
	c.wait.Do(func() {
		c.stdin.Close()
		<-c.eof // the context of the command bounds it
		c.err = c.cmd.Wait()
	})
	return c.err
}

func (c *lfChild) otherLines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.other...)
}
