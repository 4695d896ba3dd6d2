package keyringstore

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// callBound is the ctx of each call of the tests of a keyring that does
// not answer.
const callBound = 300 * time.Millisecond

// TestStalledKeyring stops the tests' gnome-keyring-daemon (SIGSTOP): the
// bus takes the calls, and no answer comes. Every call of the Store
// returns by its ctx's deadline, give or take storetest.Slack, with an
// error wrapping context.DeadlineExceeded, not ErrNoKeyring. Once the
// daemon goes on (SIGCONT), the calls left behind end, having written
// nothing, and the Store works again: the record is the one saved
// before.
func TestStalledKeyring(t *testing.T) {
	s := newStore(t, &Options{ChunkSize: 128})
	before := sampleToken("before", 500)
	mustSave(t, s, before)
	pid := daemonPID(t)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	resume := func() {
		if stopped {
			syscall.Kill(pid, syscall.SIGCONT)
			stopped = false
		}
	}
	defer resume()
	for name, r := range callEach(s, callBound) {
		if !r.Deadline || r.NoKeyring || !r.StoreError {
			t.Errorf("%s on a stalled keyring: %s; want a StoreError wrapping DeadlineExceeded, not ErrNoKeyring", name, r.Err)
		}
		if r.Took > callBound+storetest.Slack {
			t.Errorf("%s on a stalled keyring returned after %v; its ctx ended after %v", name, r.Took, callBound)
		}
	}
	resume()
	wantToken(t, mustLoad(t, s), before)
	after := sampleToken("after", 500)
	mustSave(t, s, after)
	wantToken(t, mustLoad(t, s), after)
}

// daemonPID returns the process of the Secret Service on the tests' bus.
func daemonPID(t *testing.T) int {
	t.Helper()
	conn, err := dbus.SessionBus()
	if err != nil {
		t.Fatal(err)
	}
	var pid uint32
	err = conn.BusObject().Call("org.freedesktop.DBus.GetConnectionUnixProcessID", 0, "org.freedesktop.secrets").Store(&pid)
	if err != nil {
		t.Fatalf("the process of the Secret Service: %v", err)
	}
	return int(pid)
}

// TestSilentBus points a process at a "session bus" that accepts its
// connection and never answers, not even to authenticate: every call of
// its Store returns by its ctx's deadline, give or take storetest.Slack,
// with an error wrapping context.DeadlineExceeded, not ErrNoKeyring (the
// bus is there). It needs no keyring.
func TestSilentBus(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never answered
		}
	}()
	defer func() {
		ln.Close()
		<-accepted
	}()
	c := startChild(t, childSpec{Part: "calls", Service: "keyringstore-test", LockPath: filepath.Join(dir, "lock"), Timeout: callBound},
		[]string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + sock}, nil)
	var report map[string]opResult
	c.Report(t, &report)
	for name, r := range report {
		if !r.Deadline || r.NoKeyring || !r.StoreError {
			t.Errorf("%s on a silent bus: %s; want a StoreError wrapping DeadlineExceeded, not ErrNoKeyring", name, r.Err)
		}
		if r.Took > callBound+storetest.Slack {
			t.Errorf("%s on a silent bus returned after %v; its ctx ended after %v", name, r.Took, callBound)
		}
	}
}

// TestClassify: the errors of go-keyring and D-Bus that mean no keyring
// are ErrNoKeyring; an item that could not be unlocked, or not found, or
// a bus that did not reply, is not.
func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		none bool
	}{
		{dbus.Error{Name: "org.freedesktop.DBus.Error.ServiceUnknown", Body: []any{"The name org.freedesktop.secrets was not provided by any .service files"}}, true},
		{&dbus.Error{Name: "org.freedesktop.DBus.Error.NameHasNoOwner"}, true},
		{dbus.Error{Name: "org.freedesktop.DBus.Error.Spawn.ChildExited"}, true},
		{errors.New("failed to unlock correct collection '/org/freedesktop/secrets/aliases/default'"), true},
		{errors.New("failed to unlock correct collection '/org/freedesktop/secrets/collection/login'"), true},
		{errors.New("failed to unlock correct collection '/org/freedesktop/secrets/collection/login/12'"), false},
		{dbus.Error{Name: "org.freedesktop.DBus.Error.NoReply"}, false},
		{dbus.Error{Name: "org.freedesktop.Secret.Error.NoSuchObject"}, false},
		{errors.New("dial unix /x: connect: no such file or directory"), false}, // probe says that one
		{context.DeadlineExceeded, false},
	} {
		got := classify(c.err)
		if errors.Is(got, ErrNoKeyring) != c.none {
			t.Errorf("classify(%q) = %q; want ErrNoKeyring: %v", c.err, got, c.none)
		}
		if !strings.HasSuffix(got.Error(), c.err.Error()) { // dbus.Error is not comparable: errors.Is cannot tell
			t.Errorf("classify(%q) = %q, which does not wrap it", c.err, got)
		}
	}
	if got := classify(tokensource.ErrNotFound); got != tokensource.ErrNotFound {
		t.Errorf("classify changed %v", got)
	}
}
