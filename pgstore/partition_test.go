//go:build linux

package pgstore

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// partitionEnv carries the URL and table to TestLeaseHolderChild.
const partitionEnv = "PGSTORE_PARTITION_CHILD"

// TestPartitionedHolderLosesTheLock cuts a lease holder off the network:
// the holder runs in a network namespace of its own, linked to the
// server's by a veth pair, and the link is taken down while it holds the
// lease. The server frees the lock within about 20 seconds (keepalive,
// tcp_user_timeout, idle_session_timeout), and the holder sees its lease
// lost before that. Needs root and ip(8); CI runs as root.
func TestPartitionedHolderLosesTheLock(t *testing.T) {
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
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ipCmd, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	tag := fmt.Sprintf("%04x", rand.Uint32()&0xffff)
	ns, host, peer := "pgstore"+tag, "pgsh"+tag, "pgsn"+tag
	subnet := fmt.Sprintf("10.%d.%d", 100+rand.IntN(100), rand.IntN(250))
	hostIP, peerIP := subnet+".1", subnet+".2"
	ip("netns", "add", ns)
	t.Cleanup(func() { exec.Command(ipCmd, "netns", "del", ns).Run() })
	ip("link", "add", host, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { exec.Command(ipCmd, "link", "del", host).Run() })
	ip("link", "set", peer, "netns", ns)
	ip("addr", "add", hostIP+"/30", "dev", host)
	ip("link", "set", host, "up")
	ip("netns", "exec", ns, "ip", "addr", "add", peerIP+"/30", "dev", peer)
	ip("netns", "exec", ns, "ip", "link", "set", peer, "up")

	// A cluster of the test's own that listens on the veth too.
	pg := startCluster(t)
	hba, err := os.OpenFile(filepath.Join(pg.data, "pg_hba.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(hba, "host all all %s.0/30 trust\n", subnet)
	hba.Close()
	pg.stop()
	pg.listen = "127.0.0.1," + hostIP
	pg.start()

	pool := newPool(t, pg.URL, nil)
	opts := newTable(t, pool)
	store := New(pool, "k", opts)
	childURL := strings.Replace(pg.URL, "127.0.0.1", hostIP, 1)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, ipCmd, "netns", "exec", ns, os.Args[0], "-test.run=^TestLeaseHolderChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), partitionEnv+"="+childURL+" "+opts.Table)
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
	next := func(want string) {
		t.Helper()
		for lines.Scan() {
			if lines.Text() == want {
				return
			}
		}
		t.Fatalf("the holder never printed %q", want)
	}
	next("held")
	if lockFree(t, pool, store) {
		t.Fatal("the holder says it holds the lease, but the lock is free")
	}

	ip("link", "set", host, "down")
	cut := time.Now()
	lost := make(chan time.Duration, 1)
	go func() {
		next("lost")
		lost <- time.Since(cut)
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
