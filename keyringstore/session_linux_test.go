package keyringstore

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
)

// sessionScript runs in the D-Bus session of the tests: it starts
// gnome-keyring-daemon with its Secret Service, which creates the login
// keyring with the password it reads and unlocks it, and returns once
// the daemon is on the bus; then it runs the test binary, $0 with its
// arguments, with its stderr on fd 3, the tests' own. The daemon's
// complaints go to a log, and so do dbus-daemon's (dbus-run-session's
// stderr): the tests show them only when they fail.
const sessionScript = `printf 'keyringstore-test' | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>>"$HOME/daemon.log" || exit 97
exec "$0" "$@" 2>&3 3>&-`

// daemonFailed is sessionScript's exit code when the daemon did not start.
const daemonFailed = 97

// runInSession runs this test binary again, with the same arguments,
// under dbus-run-session, after sessionScript started a gnome-keyring for
// it, in a temporary HOME (and XDG directories) removed afterwards, and
// returns its exit code. It returns why instead when it cannot: a tool
// is missing, or the daemon did not start. dbus-run-session ends the bus
// when the tests end, and the daemon with it.
func runInSession() (code int, why string) {
	for _, tool := range []string{"dbus-run-session", "gnome-keyring-daemon"} {
		if _, err := exec.LookPath(tool); err != nil {
			return 0, fmt.Sprintf("keyringstore: no %s: the tests need a D-Bus session with a gnome-keyring "+
				"(apt-get install dbus gnome-keyring)", tool)
		}
	}
	dir, err := os.MkdirTemp("", "keyringstore-test-")
	if err != nil {
		return 0, "keyringstore: " + err.Error()
	}
	defer os.RemoveAll(dir)
	env := []string{inSessionEnv + "=1", "HOME=" + dir}
	for _, xdg := range []string{"XDG_RUNTIME_DIR", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"} {
		sub := filepath.Join(dir, strings.ToLower(xdg))
		if err := os.Mkdir(sub, 0o700); err != nil {
			return 0, "keyringstore: " + err.Error()
		}
		env = append(env, xdg+"="+sub)
	}
	logPath := filepath.Join(dir, "dbus.log")
	log, err := os.Create(logPath)
	if err != nil {
		return 0, "keyringstore: " + err.Error()
	}
	defer log.Close()

	cmd := exec.Command("dbus-run-session", append([]string{"--", "sh", "-c", sessionScript}, os.Args...)...)
	cmd.Env = append(withoutBus(os.Environ()), env...)
	cmd.Stdout = os.Stdout
	cmd.Stderr = log
	cmd.ExtraFiles = []*os.File{os.Stderr} // fd 3
	// The session dies with this process: a parent death signal is sent
	// when the thread that started the child ends, so this goroutine
	// keeps its thread to the end.
	runtime.LockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == daemonFailed:
		daemonLog, _ := os.ReadFile(filepath.Join(dir, "daemon.log"))
		return 0, fmt.Sprintf("keyringstore: gnome-keyring-daemon did not start: %s", strings.TrimSpace(string(daemonLog)))
	case errors.As(err, &exit):
		sessionLog, _ := os.ReadFile(logPath)
		daemonLog, _ := os.ReadFile(filepath.Join(dir, "daemon.log"))
		fmt.Fprintf(os.Stderr, "keyringstore: the test session's logs:\n%s%s", sessionLog, daemonLog)
		return exit.ExitCode(), ""
	case err != nil:
		return 0, "keyringstore: dbus-run-session: " + err.Error()
	}
	return 0, ""
}

// withoutBus returns env without the address of a session bus, which the
// tests must not use.
func withoutBus(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "DBUS_SESSION_BUS_ADDRESS=") {
			out = append(out, kv)
		}
	}
	return out
}
