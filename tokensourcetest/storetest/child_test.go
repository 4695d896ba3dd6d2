package storetest_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// helperSpec says what TestChildHelper does.
type helperSpec struct {
	Part string // "reply", "fail", "echo", "hang" or "subtest"
	N    int    // reply: how many numbers to reply
}

// helperReply is what TestChildHelper replies.
type helperReply struct {
	Part    string
	Numbers []int
	Env     string // the value of HELPER_ENV
}

// TestChildHelper is not a test: it is the child process of the tests
// below, and plays the part its helperSpec names.
func TestChildHelper(t *testing.T) {
	var spec helperSpec
	if !storetest.ChildSpec(t, &spec) {
		t.Skip("runs only as a child process of the tests of Child")
	}
	switch spec.Part {
	case "reply":
		// A first reply, which the last replaces, and output that does
		// not end its line.
		storetest.Reply(t, helperReply{Part: "first"})
		fmt.Print("no newline")
		r := helperReply{Part: spec.Part, Env: os.Getenv("HELPER_ENV")}
		for i := range spec.N {
			r.Numbers = append(r.Numbers, i)
		}
		storetest.Reply(t, r)
	case "fail":
		fmt.Fprintln(os.Stderr, "stderr-of-the-child")
		t.Fatal("fatal-of-the-child")
	case "echo":
		// Says it is ready, then echoes each line of its input until its
		// end.
		fmt.Println("noise")
		fmt.Println("ready")
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			fmt.Println("echo " + sc.Text())
		}
		storetest.Reply(t, helperReply{Part: spec.Part})
	case "hang":
		fmt.Println("hanging")
		time.Sleep(time.Hour)
	case "subtest":
		// A child started for TestChildHelper is not one for its subtest.
		var in bool
		t.Run("sub", func(t *testing.T) { in = storetest.ChildSpec(t, nil) })
		storetest.Reply(t, helperReply{Part: fmt.Sprint(in)})
	default:
		t.Fatalf("unknown part %q", spec.Part)
	}
}

// fatalRecorder is a testing.TB whose Fatal and Fatalf record their
// message and end the goroutine, as t.Fatal does, without failing t.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}

func (r *fatalRecorder) Fatal(args ...any) {
	r.msg = fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// failure calls f with a testing.TB on t and returns the message with
// which f failed it, or "" if f returned.
func failure(t *testing.T, f func(testing.TB)) string {
	r := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done // f's waits are bounded by the Child's Timeout
	return r.msg
}

// TestChildReply: a child gets its spec and the environment of
// ChildOptions, and Report decodes its last reply, however long, after
// output that did not end its line.
func TestChildReply(t *testing.T) {
	c := storetest.StartChild(t, "TestChildHelper", helperSpec{Part: "reply", N: 100000},
		&storetest.ChildOptions{Env: []string{"HELPER_ENV=from the parent"}})
	var r helperReply
	c.Report(t, &r)
	if r.Part != "reply" || len(r.Numbers) != 100000 || r.Numbers[99999] != 99999 || r.Env != "from the parent" {
		t.Errorf("reply %s with %d numbers, env %q; want the last reply, with 100000, env %q",
			r.Part, len(r.Numbers), r.Env, "from the parent")
	}
	if err := c.Wait(); err != nil {
		t.Errorf("Wait after Report: %v", err)
	}
}

// TestChildFailure: Report on a child whose test failed fails, with a
// message that shows the child's stderr and its test's failure; so does
// Report on a child that replied nothing.
func TestChildFailure(t *testing.T) {
	c := storetest.StartChild(t, "TestChildHelper", helperSpec{Part: "fail"}, nil)
	msg := failure(t, func(tb testing.TB) { c.Report(tb, &helperReply{}) })
	for _, want := range []string{"stderr-of-the-child", "fatal-of-the-child", "exit status 1"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Report on a failed child: %q; want it to show %q", msg, want)
		}
	}
	var exit *exec.ExitError
	if err := c.Wait(); !errors.As(err, &exit) {
		t.Errorf("Wait on a failed child: %v; want an ExitError", err)
	}
	if s := c.Stderr(); !strings.Contains(s, "stderr-of-the-child") {
		t.Errorf("Stderr: %q", s)
	}

	c = storetest.StartChild(t, "TestChildHelper", helperSpec{Part: "echo"}, nil)
	if msg := failure(t, func(tb testing.TB) { c.Report(tb, &helperReply{}) }); msg != "" {
		t.Errorf("Report on a child that replied: %s", msg)
	}
	c = storetest.StartChild(t, "TestChildHelper", helperSpec{Part: "subtest"}, nil)
	var r helperReply
	c.Report(t, &r)
	if r.Part != "false" {
		t.Errorf("ChildSpec in a subtest of the child's test: %s; want false", r.Part)
	}
	if storetest.ChildSpec(t, nil) || storetest.InChild() {
		t.Error("ChildSpec or InChild in the parent: true")
	}
}

// TestChildAwait: Await passes over other lines to the one with its
// prefix, Send reaches the child's input, Wait closes it, and Next and
// Await fail once the child has ended with no line left.
func TestChildAwait(t *testing.T) {
	c := storetest.StartChild(t, "TestChildHelper", helperSpec{Part: "echo"}, nil)
	if line := c.Await(t, "read"); line != "ready" {
		t.Errorf("Await(read) = %q", line)
	}
	c.Send(t, "one")
	c.Send(t, "two")
	if line := c.Next(t); line != "echo one" {
		t.Errorf("Next = %q, want echo one", line)
	}
	if line := c.Await(t, "echo"); line != "echo two" {
		t.Errorf("Await(echo) = %q, want echo two", line)
	}
	var r helperReply
	c.Report(t, &r) // returns only if Wait closed the child's input
	if r.Part != "echo" {
		t.Errorf("reply %+v", r)
	}
	if msg := failure(t, func(tb testing.TB) { c.Await(tb, "absent") }); !strings.Contains(msg, `"absent"`) || !strings.Contains(msg, "ended") {
		t.Errorf("Await after the end: %q; want a failure that names the prefix", msg)
	}
	if msg := failure(t, func(tb testing.TB) { c.Next(tb) }); msg == "" {
		t.Error("Next after the last line: no failure")
	}
	if lines := c.Lines(); len(lines) < 4 || !strings.Contains(strings.Join(lines, "\n"), "noise\nready\necho one\necho two") {
		t.Errorf("Lines = %q", lines)
	}
}

// TestChildTimeout: Next on a child that prints nothing more, and Wait on
// one that does not end, give up after the timeout; Wait kills it.
func TestChildTimeout(t *testing.T) {
	const timeout = 500 * time.Millisecond
	c := storetest.StartChild(t, "TestChildHelper", helperSpec{Part: "hang"}, &storetest.ChildOptions{Timeout: timeout})
	c.Await(t, "hanging")
	start := time.Now()
	if msg := failure(t, func(tb testing.TB) { c.Next(tb) }); !strings.Contains(msg, "timeout") {
		t.Errorf("Next on a silent child: %q; want a failure for the timeout", msg)
	}
	err := c.Wait()
	if took := time.Since(start); took > 20*timeout {
		t.Errorf("Next and Wait took %v with a timeout of %v", took, timeout)
	}
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Wait on a hung child: %v; want an error saying it was killed", err)
	}
	if err := c.Signal(os.Kill); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after Wait killed it: %v; want ErrProcessDone", err)
	}
}

// TestChildKilledAtCleanup: a child still running when its test ends is
// killed, and waited for, by the test's cleanup.
func TestChildKilledAtCleanup(t *testing.T) {
	var c *storetest.Child
	start := time.Now()
	t.Run("sub", func(t *testing.T) {
		c = storetest.StartChild(t, "TestChildHelper", helperSpec{Part: "hang"}, nil)
		c.Await(t, "hanging")
	})
	// Waited for: a signal finds no process.
	if err := c.Signal(os.Kill); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after the cleanup: %v; want ErrProcessDone", err)
	}
	err := c.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Success() {
		t.Errorf("the child's exit: %v; want it killed", err)
	}
	if took := time.Since(start); took > storetest.DefaultChildTimeout/2 {
		t.Errorf("the subtest and Wait took %v", took)
	}
}
