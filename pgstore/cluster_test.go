package pgstore

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"testing"
)

// cluster is a PostgreSQL cluster of one test's own, for tests that stop
// and start the server; scripts/services.sh starts the shared one the same
// way. It is stopped and removed when the test ends.
type cluster struct {
	t         testing.TB
	bin, data string
	port      int
	URL       string
	listen    string // listen_addresses; "" means 127.0.0.1
}

// startCluster creates and starts a cluster in a temporary directory. Its
// binaries are in $TOKENSOURCE_PG_BIN; without it, it skips t, or fails it
// when the servers are required.
func startCluster(t testing.TB) *cluster {
	t.Helper()
	bin := needEnv(t, pgBinEnv, "no PostgreSQL binaries to start a cluster of the test's own")
	dir, err := os.MkdirTemp("", "pgstore-cluster-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	c := &cluster{t: t, bin: bin, data: filepath.Join(dir, "data"), port: freePort(t)}
	c.URL = fmt.Sprintf("postgres://tokensource@127.0.0.1:%d/postgres?sslmode=disable", c.port)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 { // initdb refuses to run as root
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root, and no postgres user to run the cluster: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	c.run("initdb", "-D", c.data, "-U", "tokensource", "--auth=trust", "-E", "UTF8")
	c.start()
	t.Cleanup(func() { c.run("pg_ctl", "-D", c.data, "-m", "immediate", "-w", "stop") })
	return c
}

// start starts the server and waits until it accepts connections.
func (c *cluster) start() {
	c.t.Helper()
	listen := c.listen
	if listen == "" {
		listen = "127.0.0.1"
	}
	opts := fmt.Sprintf("-c listen_addresses=%s -p %d -k %s", listen, c.port, c.data)
	c.run("pg_ctl", "-D", c.data, "-l", filepath.Join(c.data, "log"), "-w", "-o", opts, "start")
}

// stop shuts the server down, ending every session.
func (c *cluster) stop() {
	c.t.Helper()
	c.run("pg_ctl", "-D", c.data, "-m", "fast", "-w", "stop")
}

// run runs one of the cluster's binaries, as the postgres user when root.
func (c *cluster) run(name string, args ...string) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.bin, name), args...)
	if os.Geteuid() == 0 {
		cmd = exec.Command("runuser", append([]string{"-u", "postgres", "--", cmd.Path}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

// freePort returns a TCP port on 127.0.0.1 that nothing listened on a
// moment ago.
func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
