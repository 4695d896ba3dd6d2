package keyringstore

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// The environment of the tests.
const (
	// inSessionEnv is set, to "1", in the test binary that TestMain runs
	// in a D-Bus session of its own, with a gnome-keyring of its own, and
	// in the children of the tests; they run the tests themselves. Set by
	// hand, it runs the tests on the session bus of the environment, and
	// the keyring there, as they are.
	inSessionEnv = "KEYRINGSTORE_IN_SESSION"
	// requireEnv "1" makes a missing keyring fail the tests instead of
	// skipping them; the CI sets it.
	requireEnv = "TOKENSOURCE_REQUIRE_SERVERS"
)

// noKeyringReason says why the tests have no keyring: "" when they run in a
// session with a gnome-keyring of their own.
var noKeyringReason string

// TestMain runs the tests in a D-Bus session of their own, with a
// gnome-keyring of their own, started for the run and ended with it (see
// runInSession), whether or not the environment has a session bus: they
// never touch the keyring of the user who runs them.
// Without dbus-run-session and gnome-keyring-daemon, or off Linux, the
// tests that need the keyring skip, saying why, or fail under
// TOKENSOURCE_REQUIRE_SERVERS=1, and so do the examples. It fails the run
// if a test leaves a goroutine behind, but for the D-Bus connection,
// which go-keyring keeps.
func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv(inSessionEnv) == "" {
		code, why := runInSession()
		if why == "" {
			os.Exit(code)
		}
		noKeyringReason = why
	}
	if storetest.InChild() {
		// A child may leave calls to a keyring that never answers.
		os.Exit(m.Run())
	}
	if noKeyringReason != "" {
		fmt.Fprintln(os.Stderr, noKeyringReason)
		if os.Getenv(requireEnv) != "1" {
			skip := "^Example"
			if s := flag.Lookup("test.skip").Value.String(); s != "" {
				skip = s + "|" + skip
			}
			flag.Set("test.skip", skip)
		}
	}
	goleak.VerifyTestMain(m, busGoroutines...)
}

// busGoroutines are those of the D-Bus connection that go-keyring opens
// and keeps, which goleak must not count.
var busGoroutines = []goleak.Option{
	goleak.IgnoreAnyFunction("github.com/godbus/dbus/v5.(*Conn).inWorker"),
	goleak.IgnoreAnyFunction("github.com/godbus/dbus/v5.newConn.func1"),
	goleak.IgnoreAnyFunction("github.com/godbus/dbus/v5.(*defaultSignalHandler).deferredDeliver"),
}

// needKeyring skips t when the tests have no keyring, or fails it under
// TOKENSOURCE_REQUIRE_SERVERS=1.
func needKeyring(t testing.TB) {
	t.Helper()
	if noKeyringReason == "" {
		return
	}
	if os.Getenv(requireEnv) == "1" {
		t.Fatal(noKeyringReason)
	}
	t.Skip(noKeyringReason)
}
