package keyringstore

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// busConfig is a session bus that starts no service: it knows no
// org.freedesktop.secrets.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// TestNoKeyringFailsClosed runs a process with no keyring to use: no
// bus at the address it is given; no address and no bus to find; a bus
// on which nothing provides the Secret Service; a Secret Service (a
// gnome-keyring that the bus starts on demand) whose keyring is locked,
// with no one to unlock it. Every call of its Store fails, promptly, with
// a StoreError wrapping ErrNoKeyring, and nothing holding a token is
// written anywhere in its home directory, where the lock files go: the
// Store never falls back to a file.
func TestNoKeyringFailsClosed(t *testing.T) {
	session := func(config string) func(dir string) func(argv []string) *exec.Cmd {
		return func(dir string) func(argv []string) *exec.Cmd {
			return func(argv []string) *exec.Cmd {
				args := []string{"--"}
				if config != "" {
					path := filepath.Join(dir, "bus.conf")
					if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
						t.Fatal(err)
					}
					args = []string{"--config-file=" + path, "--"}
				}
				return exec.Command("dbus-run-session", append(args, argv...)...)
			}
		}
	}
	for name, c := range map[string]struct {
		env     func(dir string) []string
		session func(dir string) func(argv []string) *exec.Cmd
	}{
		"no bus at the address": {
			env: func(dir string) []string {
				return []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(dir, "absent")}
			},
		},
		"no bus address": {
			// No address, no bus in XDG_RUNTIME_DIR, and no display for
			// dbus-launch to start one for.
			env: func(string) []string { return []string{"DBUS_SESSION_BUS_ADDRESS=", "DISPLAY="} },
		},
		"no Secret Service on the bus": {
			env:     func(string) []string { return []string{"DBUS_SESSION_BUS_ADDRESS="} },
			session: session(busConfig),
		},
		"a locked keyring": {
			// The bus starts gnome-keyring-daemon, which has no login
			// keyring; with no display, its unlock prompt cannot be shown.
			env:     func(string) []string { return []string{"DBUS_SESSION_BUS_ADDRESS=", "DISPLAY=", "WAYLAND_DISPLAY="} },
			session: session(""),
		},
	} {
		t.Run(name, func(t *testing.T) {
			var wrap func(argv []string) *exec.Cmd
			dir, env := childDirs(t)
			if c.session != nil {
				if _, err := exec.LookPath("dbus-run-session"); err != nil {
					needKeyring(t)
					t.Skip("no dbus-run-session")
				}
				wrap = c.session(dir)
			}
			ch := startChild(t, childSpec{Part: "calls", Service: "keyringstore-test", ChunkSize: 64, Timeout: 10 * time.Second},
				append(env, c.env(dir)...), wrap)
			var report map[string]opResult
			ch.Report(t, &report)
			t.Logf("Load: %s", report["Load"].Err)
			for op, r := range report {
				if !r.NoKeyring || !r.StoreError {
					t.Errorf("%s: %s; want a StoreError wrapping ErrNoKeyring", op, r.Err)
				}
				if r.Took > 5*time.Second {
					t.Errorf("%s took %v", op, r.Took)
				}
			}
			wantNoTokenIn(t, dir)
		})
	}
}

// wantNoTokenIn fails t if a file under dir holds a token value of the
// tests.
func wantNoTokenIn(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if data, err := os.ReadFile(path); err == nil && bytes.Contains(data, []byte("secret-")) {
			t.Errorf("%s holds a token", path)
		}
		return nil
	})
}
