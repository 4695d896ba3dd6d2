package storetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// childEnv carries, to a child, the name of the test it runs and the
// spec its parent gave [StartChild], as the JSON of a childStart.
const childEnv = "TOKENSOURCE_STORETEST_CHILD"

// childStart is what a parent tells its child through childEnv.
type childStart struct {
	Test string          // the test the child runs
	Spec json.RawMessage // the spec, for ChildSpec
}

// replyPrefix starts the line that Reply prints.
const replyPrefix = "storetest reply: "

// DefaultChildTimeout is how long a wait for a child lasts when
// [ChildOptions].Timeout is zero: a child that takes longer hangs.
const DefaultChildTimeout = 2 * time.Minute

// waitDelay is how long, after a child's process has exited, its parent
// waits for the end of its output: a process the child left behind may
// still hold it open.
const waitDelay = 5 * time.Second

// A Child is the test binary run again as another process, to play
// another replica or another process of the user: it runs one test of
// the binary (the child's test), which reads its spec with [ChildSpec]
// and says what it did with [Reply].
//
//	func TestReplicas(t *testing.T) {
//		c := storetest.StartChild(t, "TestChild", childSpec{Key: "k"}, nil)
//		var r childReport
//		c.Report(t, &r)
//		...
//	}
//
//	func TestChild(t *testing.T) {
//		var spec childSpec
//		if !storetest.ChildSpec(t, &spec) {
//			t.Skip("runs only as a child process of the other tests")
//		}
//		storetest.Reply(t, childReport{...})
//	}
//
// A Child's methods may be called from several goroutines; those that
// fail t must be called from the goroutine of t's test, as t.FailNow
// must.
type Child struct {
	test    string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	timeout time.Duration

	mu       sync.Mutex
	lines    []string      // its stdout, line by line
	partial  []byte        // the end of its stdout, after the last newline
	more     chan struct{} // closed, and replaced, at each new line and at its end
	stderr   bytes.Buffer
	ended    bool  // its process has exited and its output ended
	err      error // how it exited, once ended
	timedOut bool  // Wait killed it, past the timeout

	done chan struct{} // closed once ended is set
	read int           // the lines that Next returned
}

// ChildOptions are the options of [StartChild]; nil means the zero
// value of each.
type ChildOptions struct {
	// Env is added to the environment of this process for the child;
	// a variable in Env overrides this process's.
	Env []string
	// Wrap, if not nil, returns the command that runs the child's command
	// line, argv: a command that runs argv in a session of its own, such
	// as dbus-run-session. StartChild sets its Env, Stdin, Stdout, Stderr
	// and, if zero, WaitDelay. The child's process is then the wrapper's:
	// Signal, and the kill at the end of the test, reach the wrapper.
	Wrap func(argv []string) *exec.Cmd
	// Timeout is how long each of Next, Await and Wait (and so Report)
	// waits for the child before it fails the test or kills the child;
	// zero means DefaultChildTimeout.
	Timeout time.Duration
}

// StartChild starts the test binary again, running only its top-level
// test named test, with spec, which must marshal to JSON, for that test's
// [ChildSpec]. The child's standard output is read line by line (see
// [Child.Next]), its standard error kept (see [Child.Stderr]), and its
// standard input is a pipe (see [Child.Send]).
//
// StartChild fails t if it cannot start the child. The child is killed,
// if it still runs, when t and its subtests end, and StartChild's cleanup
// waits for its end.
func StartChild(t testing.TB, test string, spec any, opts *ChildOptions) *Child {
	t.Helper()
	if opts == nil {
		opts = &ChildOptions{}
	}
	data, err := json.Marshal(spec)
	if err != nil {
		t.Fatalf("the spec of child %s: %v", test, err)
	}
	start, err := json.Marshal(childStart{Test: test, Spec: data})
	if err != nil {
		t.Fatalf("the spec of child %s: %v", test, err)
	}
	c := &Child{test: test, timeout: opts.Timeout, more: make(chan struct{}), done: make(chan struct{})}
	if c.timeout <= 0 {
		c.timeout = DefaultChildTimeout
	}
	argv := []string{os.Args[0], "-test.run=^" + regexp.QuoteMeta(test) + "$", "-test.count=1", "-test.v"}
	if opts.Wrap != nil {
		c.cmd = opts.Wrap(argv)
	} else {
		c.cmd = exec.Command(argv[0], argv[1:]...)
	}
	env := append(os.Environ(), opts.Env...)
	c.cmd.Env = append(env, childEnv+"="+string(start))
	c.cmd.Stdout = writerFunc(c.writeStdout)
	c.cmd.Stderr = writerFunc(c.writeStderr)
	if c.cmd.WaitDelay == 0 {
		c.cmd.WaitDelay = waitDelay
	}
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatalf("child %s: %v", test, err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("child %s: %v", test, err)
	}
	go func() {
		// Wait returns once the output has ended too, within waitDelay of
		// the exit: no write of the child comes after it.
		err := c.cmd.Wait()
		c.mu.Lock()
		if len(c.partial) > 0 {
			c.lines = append(c.lines, string(c.partial))
			c.partial = nil
		}
		c.ended, c.err = true, err
		close(c.more)
		c.mu.Unlock()
		close(c.done)
	}()
	t.Cleanup(func() {
		c.stdin.Close()
		c.cmd.Process.Kill()
		<-c.done // within waitDelay of the kill
	})
	return c
}

// String names the child, for messages: its test and its process ID.
func (c *Child) String() string {
	return fmt.Sprintf("child %s (pid %d)", c.test, c.cmd.Process.Pid)
}

// Next returns the next line of the child's standard output, without its
// newline: every line in order, whether or not the child's test printed
// it (with -test.v, the test binary prints "=== RUN" and the like). It
// fails t when the child ends with no line left to return, or when no
// line comes within the timeout.
func (c *Child) Next(t testing.TB) string {
	t.Helper()
	line, err := c.next(time.Now().Add(c.timeout))
	if err != nil {
		t.Fatalf("%s: %v%s", c, err, c.transcript())
	}
	return line
}

// Await returns the next line of the child's standard output that
// starts with prefix, passing over the lines before it. It fails t when
// the child ends without printing one, or when none comes within the
// timeout.
func (c *Child) Await(t testing.TB, prefix string) string {
	t.Helper()
	deadline := time.Now().Add(c.timeout)
	for {
		line, err := c.next(deadline)
		if err != nil {
			t.Fatalf("%s, waiting for a line that starts with %q: %v%s", c, prefix, err, c.transcript())
		}
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
}

// next returns the next line of the child's standard output, or an error
// when the child has ended with none left or deadline passes first.
func (c *Child) next(deadline time.Time) (string, error) {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		c.mu.Lock()
		if c.read < len(c.lines) {
			line := c.lines[c.read]
			c.read++
			c.mu.Unlock()
			return line, nil
		}
		ended, err, more := c.ended, c.err, c.more
		c.mu.Unlock()
		if ended {
			return "", fmt.Errorf("ended (exit: %v) with no line left", err)
		}
		select {
		case <-more:
		case <-timer.C:
			return "", errors.New("no line came within the timeout")
		}
	}
}

// Lines returns every line the child has printed on its standard output
// so far, in order, whether or not Next returned it; once [Child.Wait]
// has returned, all of them.
func (c *Child) Lines() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.lines...)
}

// Send writes line and a newline on the child's standard input. It fails
// t if the child's input is closed: the child has ended, or Wait began.
func (c *Child) Send(t testing.TB, line string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, line+"\n"); err != nil {
		t.Fatalf("%s: sending %q: %v", c, line, err)
	}
}

// Signal sends sig to the child's process (the wrapper's, under
// [ChildOptions].Wrap), as [os.Process.Signal]: os.Kill kills it, and on
// Unix a test may stop it and let it go on (syscall.SIGSTOP and
// syscall.SIGCONT). Once the child has ended, Signal does nothing and
// returns [os.ErrProcessDone].
func (c *Child) Signal(sig os.Signal) error {
	return c.cmd.Process.Signal(sig)
}

// Wait closes the child's standard input, so that a child that reads it
// sees its end, waits for the child to end, and returns how it exited,
// as [exec.Cmd.Wait]: nil when its test passed. A child still running
// after the timeout is killed, and Wait returns an error that says so.
// Wait may be called more than once; it returns the same each time.
func (c *Child) Wait() error {
	c.stdin.Close()
	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C:
		c.mu.Lock()
		c.timedOut = true
		c.mu.Unlock()
		c.cmd.Process.Kill()
		<-c.done // within waitDelay of the kill
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timedOut {
		return fmt.Errorf("did not end within %v, and was killed (%v)", c.timeout, c.err)
	}
	return c.err
}

// Report waits for the child to end (see [Child.Wait]) and decodes into v
// the JSON of the last [Reply] it printed. It fails t, showing what the
// child printed on its standard output and standard error, if the child
// failed or did not end in time, if it replied nothing, or if its reply
// does not decode into v. With v nil, Report only checks that the child
// ended and its test passed: a child that replies nothing is awaited
// that way.
func (c *Child) Report(t testing.TB, v any) {
	t.Helper()
	if err := c.Wait(); err != nil {
		t.Fatalf("%s: %v%s", c, err, c.transcript())
	}
	if v == nil {
		return
	}
	lines := c.Lines()
	for i := len(lines) - 1; i >= 0; i-- {
		if data, ok := strings.CutPrefix(lines[i], replyPrefix); ok {
			if err := json.Unmarshal([]byte(data), v); err != nil {
				t.Fatalf("%s: its reply %.200q: %v", c, data, err)
			}
			return
		}
	}
	t.Fatalf("%s ended without a reply%s", c, c.transcript())
}

// Stderr returns what the child has written on its standard error so far.
func (c *Child) Stderr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.String()
}

// transcript returns the child's standard output but for its replies,
// where its test's failures are, and its standard error, for a message.
func (c *Child) transcript() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	b.WriteString("\nits stdout:\n")
	for _, line := range c.lines {
		if !strings.HasPrefix(line, replyPrefix) {
			b.WriteString(line + "\n")
		}
	}
	b.Write(c.partial)
	b.WriteString("\nits stderr:\n")
	b.Write(c.stderr.Bytes())
	return b.String()
}

// writeStdout takes the child's standard output: its lines, as they end.
func (c *Child) writeStdout(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.partial = append(c.partial, p...)
	i := bytes.LastIndexByte(c.partial, '\n')
	if i < 0 {
		return len(p), nil
	}
	for line := range strings.Lines(string(c.partial[:i+1])) {
		c.lines = append(c.lines, strings.TrimSuffix(line, "\n"))
	}
	c.partial = append(c.partial[:0], c.partial[i+1:]...)
	close(c.more)
	c.more = make(chan struct{})
	return len(p), nil
}

// writeStderr takes the child's standard error.
func (c *Child) writeStderr(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stderr.Write(p)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// InChild reports whether this process is a child that [StartChild]
// started: a TestMain may then skip what only the parent does.
func InChild() bool {
	_, ok := os.LookupEnv(childEnv)
	return ok
}

// ChildSpec reports whether this process is a child that [StartChild]
// started to run t's test; if so, it decodes the child's spec into v,
// unless v is nil. It returns false in the test binary as the tests run
// it, and in a child started for another test: the test then skips. It
// fails t if the spec does not decode into v.
func ChildSpec(t testing.TB, v any) bool {
	t.Helper()
	env, ok := os.LookupEnv(childEnv)
	if !ok {
		return false
	}
	var start childStart
	if err := json.Unmarshal([]byte(env), &start); err != nil {
		t.Fatalf("the spec of this child process: %v", err)
	}
	if start.Test != t.Name() {
		return false
	}
	if v != nil {
		if err := json.Unmarshal(start.Spec, v); err != nil {
			t.Fatalf("the spec of this child process %s: %v", start.Spec, err)
		}
	}
	return true
}

// Reply prints v, in JSON on a line of its own, on the standard output of
// a child, for its parent's [Child.Report], which decodes the last reply.
// It fails t if v does not marshal to JSON.
func Reply(t testing.TB, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("the reply of this child process: %v", err)
	}
	// A line of its own even after output that did not end its line.
	fmt.Printf("\n%s%s\n", replyPrefix, data)
}
