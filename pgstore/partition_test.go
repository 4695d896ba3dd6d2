//go:build linux

package pgstore

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// partitionEnv carries the URL and table to TestLeaseHolderChild.
const partitionEnv = "PGSTORE_PARTITION_CHILD"

// partition is a network namespace of a test's own, linked to the host by
// a veth pair, and a cluster of the test's own that listens on the host's
// end of the link too. A child process runs in the namespace; cut takes
// the link down. Needs root and ip(8), and skips t without them; CI runs
// as root.
type partition struct {
	t       *testing.T
	ipCmd   string
	ns      string
	host    string // the host's end of the link
	hostIP  string
	subnet  string
	pg      *cluster
	pool    *pgxpool.Pool // on loopback, outside the namespace
	opts    *Options
	childPG string // the cluster's URL from inside the namespace
}

func newPartition(t *testing.T) *partition {
	if testing.Short() {
		t.Skip("takes about 20 s")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a network namespace")
	}
	ipCmd, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("needs ip(8) to make a network namespace")
	}
	tag := fmt.Sprintf("%04x", rand.Uint32()&0xffff)
	p := &partition{t: t, ipCmd: ipCmd, ns: "pgstore" + tag, host: "pgsh" + tag,
		subnet: fmt.Sprintf("10.%d.%d", 100+rand.IntN(100), rand.IntN(250))}
	peer := "pgsn" + tag
	p.hostIP = p.subnet + ".1"
	p.ip("netns", "add", p.ns)
	t.Cleanup(func() { exec.Command(ipCmd, "netns", "del", p.ns).Run() })
	p.ip("link", "add", p.host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { exec.Command(ipCmd, "link", "del", p.host).Run() })
	p.ip("link", "set", peer, "netns", p.ns)
	p.ip("addr", "add", p.hostIP+"/30", "dev", p.host)
	p.ip("link", "set", p.host, "up")
	p.ip("netns", "exec", p.ns, "ip", "addr", "add", p.subnet+".2/30", "dev", peer)
	p.ip("netns", "exec", p.ns, "ip", "link", "set", peer, "up")

	p.pg = startCluster(t)
	hba, err := os.OpenFile(filepath.Join(p.pg.data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(hba, "host all all %s.0/30 trust\n", p.subnet)
	hba.Close()
	p.pg.stop()
	p.pg.listen = "127.0.0.1," + p.hostIP
	p.pg.start()
	p.pool = newPool(t, p.pg.URL, nil)
	p.opts = newTable(t, p.pool)
	p.childPG = strings.Replace(p.pg.URL, "127.0.0.1", p.hostIP, 1)
	return p
}

func (p *partition) ip(args ...string) {
	p.t.Helper()
	if out, err := exec.Command(p.ipCmd, args...).CombinedOutput(); err != nil {
		p.t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// cut takes the link down: from now on, nothing crosses it either way.
func (p *partition) cut() { p.ip("link", "set", p.host, "down") }

// child runs the test function run in the namespace, with env set, until
// ctx ends or t does. It returns a pipe to its stdin and its stdout's
// lines.
func (p *partition) child(ctx context.Context, run, env string) (io.Writer, *bufio.Scanner) {
	p.t.Helper()
	cmd := exec.CommandContext(ctx, p.ipCmd, "netns", "exec", p.ns, os.Args[0], "-test.run=^"+run+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return in, bufio.NewScanner(out)
}

// await reads lines until want, and fails t if there is none.
func await(t *testing.T, lines *bufio.Scanner, want string) {
	t.Helper()
	for lines.Scan() {
		if lines.Text() == want {
			return
		}
	}
	t.Fatalf("the child never printed %q", want)
}

// TestPartitionedHolderLosesTheLock cuts a lease holder off the network
// while it holds the lease. The server frees the lock within about 20
// seconds (keepalive, tcp_user_timeout, idle_session_timeout), and the
// holder sees its lease lost before that.
func TestPartitionedHolderLosesTheLock(t *testing.T) {
	t.Parallel() // most of it is waiting for the server
	p := newPartition(t)
	store := New(p.pool, "k", p.opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, lines := p.child(ctx, "TestLeaseHolderChild", partitionEnv+"="+p.childPG+" "+p.opts.Table)
	await(t, lines, "held")
	if lockFree(t, p.pool, store) {
		t.Fatal("the holder says it holds the lease, but the lock is free")
	}

	p.cut()
	cut := time.Now()
	lost := make(chan time.Duration, 1)
	go func() {
		for lines.Scan() {
			if lines.Text() == "lost" {
				lost <- time.Since(cut)
				return
			}
		}
	}()
	l, err := store.Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	freed := time.Since(cut)
	l.Release()
	t.Logf("the lock was freed %v after the link went down", freed)
	if freed > 30*time.Second {
		t.Errorf("the partitioned holder kept the lock %v, want 30 s at most", freed)
	}
	select {
	case d := <-lost:
		t.Logf("the holder saw its lease lost %v after the link went down", d)
		if d > freed {
			t.Errorf("the holder saw its lease lost after the lock was freed")
		}
	case <-time.After(10 * time.Second):
		t.Error("the holder never saw its lease lost")
	}
}

// TestLeaseHolderChild is the holder of TestPartitionedHolderLosesTheLock,
// in its network namespace, and of TestStoppedHolderLosesTheLock: it takes
// the lease, says so, and says when it is lost.
func TestLeaseHolderChild(t *testing.T) {
	spec := os.Getenv(partitionEnv)
	if spec == "" {
		t.Skip("the child of TestPartitionedHolderLosesTheLock and TestStoppedHolderLosesTheLock")
	}
	url, table, _ := strings.Cut(spec, " ")
	pool := newPool(t, url, nil)
	l, err := New(pool, "k", &Options{Table: table}).Lease(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	fmt.Println("held")
	select {
	case <-l.Lost():
		fmt.Println("lost")
		// pgx's goroutine that sends a cancel request over the cut link
		// ends only at its own timeout; the parent has what it needs.
		os.Exit(0)
	case <-time.After(time.Minute):
		t.Fatal("the lease was not lost a minute after it was taken")
	}
}

// TestStoppedHolderLosesTheLock stops a lease holder (SIGSTOP, as a paused
// VM or a long GC pause would): its session falls silent, and the server
// ends it at idle_session_timeout (PostgreSQL 14 and later), which frees
// the lock. When the holder resumes, it sees its lease lost.
func TestStoppedHolderLosesTheLock(t *testing.T) {
	if testing.Short() {
		t.Skip("takes about 20 s")
	}
	t.Parallel() // most of it is waiting for the server
	pool := testPool(t)
	var version int
	if err := pool.QueryRow(context.Background(), "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version < 140000 {
		t.Skipf("PostgreSQL %d has no idle_session_timeout", version)
	}
	opts := newTable(t, pool)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLeaseHolderChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), partitionEnv+"="+serverURL(t)+" "+opts.Table)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	lines := bufio.NewScanner(out)
	next := func(want string) bool {
		for lines.Scan() {
			if lines.Text() == want {
				return true
			}
		}
		return false
	}
	if !next("held") {
		t.Fatal("the holder never took the lease")
	}
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	defer cmd.Process.Signal(syscall.SIGCONT)
	l, err := New(pool, "k", opts).Lease(ctx)
	if err != nil {
		t.Fatal(err)
	}
	freed := time.Since(stopped)
	l.Release()
	t.Logf("the lock was freed %v after the holder was stopped", freed)
	if freed > 30*time.Second {
		t.Errorf("the stopped holder kept the lock %v, want 30 s at most", freed)
	}
	if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if !next("lost") {
		t.Error("the holder did not see its lease lost when it resumed")
	}
}
