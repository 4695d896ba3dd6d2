package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// The environment that points the tests at Redis; scripts/services.sh sets
// it up.
const (
	addrEnv    = "TOKENSOURCE_REDIS_ADDR"      // host:port of a shared redis-server
	serverEnv  = "TOKENSOURCE_REDIS_SERVER"    // the redis-server binary, for tests that start their own
	requireEnv = "TOKENSOURCE_REQUIRE_SERVERS" // "1": a missing server fails the tests instead of skipping them
)

const noServer = "redisstore: no Redis server: set " + addrEnv + "=host:port (and " + serverEnv +
	"=/path/to/redis-server), or run scripts/test, which starts a throwaway server"

// redisAddr returns the address of the shared Redis server, and skips t
// (or fails it, under TOKENSOURCE_REQUIRE_SERVERS=1) when there is none.
func redisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv(addrEnv)
	if addr == "" {
		noServerFor(t)
	}
	return addr
}

func noServerFor(t testing.TB) {
	t.Helper()
	if os.Getenv(requireEnv) == "1" {
		t.Fatal(noServer)
	}
	t.Skip(noServer)
}

// newClient returns a client of the shared server, closed when t ends.
func newClient(t testing.TB) *redis.Client {
	t.Helper()
	return clientFor(t, redisAddr(t))
}

// clientFor returns a client of the server at addr, closed when t ends.
func clientFor(t testing.TB, addr string) *redis.Client {
	t.Helper()
	return clientWith(t, &redis.Options{Addr: addr})
}

// clientWith returns a client with opts, closed when t ends.
func clientWith(t testing.TB, opts *redis.Options) *redis.Client {
	t.Helper()
	c := redis.NewClient(opts)
	t.Cleanup(func() { c.Close() })
	return c
}

// uniqueKey returns a key no other test, or earlier run, uses.
func uniqueKey(t testing.TB) string {
	var b [6]byte
	rand.Read(b[:])
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	return "tokensource-test:" + name + ":" + hex.EncodeToString(b[:])
}

// A privateServer is a redis-server of a test's own, for tests that stop
// and restart it, or that need Cluster or Sentinel.
type privateServer struct {
	bin, dir string
	args     func(port string) []string // the command line, but for the binary
	Addr     string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when cmd has exited
}

// startPrivateServer starts a redis-server on a free loopback port, in a
// temporary directory, and stops it when t ends. It keeps its data in an
// append-only file synced on every write, so that a restart finds it.
// extra are more options, such as "--cluster-enabled", "yes".
func startPrivateServer(t testing.TB, extra ...string) *privateServer {
	t.Helper()
	s := newPrivateServer(t)
	s.args = func(port string) []string {
		return append([]string{"--port", port, "--bind", "127.0.0.1", "--dir", s.dir,
			"--save", "", "--appendonly", "yes", "--appendfsync", "always"}, extra...)
	}
	s.startOnFreePort(t)
	return s
}

// startSentinel starts a Redis Sentinel that monitors master under the
// name master, as startPrivateServer does a server.
func startSentinel(t testing.TB, name string, master *privateServer) *privateServer {
	t.Helper()
	s := newPrivateServer(t)
	host, port, _ := net.SplitHostPort(master.Addr)
	conf := filepath.Join(s.dir, "sentinel.conf")
	if err := os.WriteFile(conf, []byte("sentinel monitor "+name+" "+host+" "+port+" 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.args = func(port string) []string {
		return []string{conf, "--sentinel", "--port", port, "--bind", "127.0.0.1", "--dir", s.dir}
	}
	s.startOnFreePort(t)
	return s
}

func newPrivateServer(t testing.TB) *privateServer {
	t.Helper()
	redisAddr(t) // the same requirement as the shared server
	bin := os.Getenv(serverEnv)
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("redis-server"); err != nil {
			noServerFor(t)
		}
	}
	return &privateServer{bin: bin, dir: t.TempDir()}
}

func (s *privateServer) startOnFreePort(t testing.TB) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		// The port may be taken between freeAddr and the start: try another.
		s.Addr = freeAddr(t)
		err := s.Start()
		if err == nil {
			break
		}
		if attempt == 5 {
			t.Fatal(err)
		}
	}
	t.Cleanup(s.Stop)
}

// freeAddr returns a loopback address with a port nothing listens on.
func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start starts the server on its address and waits until it responds.
func (s *privateServer) Start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	s.cmd = exec.Command(s.bin, s.args(port)...)
	logPath := filepath.Join(s.dir, "log")
	log, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer log.Close()
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan struct{})
	go func(cmd *exec.Cmd, exited chan struct{}) {
		cmd.Wait()
		close(exited)
	}(s.cmd, s.exited)

	c := redis.NewClient(&redis.Options{Addr: s.Addr, MaxRetries: -1})
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		select {
		case <-s.exited:
		case <-time.After(20 * time.Millisecond):
			if time.Now().Before(deadline) {
				continue
			}
			s.Stop()
		}
		out, _ := os.ReadFile(logPath)
		s.cmd = nil
		return fmt.Errorf("redis-server on %s did not start:\n%s", s.Addr, out)
	}
	return nil
}

// Stop kills the server and waits for it to exit. Stopping a stopped
// server does nothing.
func (s *privateServer) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// commandCounter is a redis.Hook that counts the commands a client sends.
type commandCounter struct{ n atomic.Int64 }

// countCommands returns the number of commands c sends from now on.
func countCommands(c redis.UniversalClient) *atomic.Int64 {
	h := &commandCounter{}
	c.AddHook(h)
	return &h.n
}

func (h *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}
