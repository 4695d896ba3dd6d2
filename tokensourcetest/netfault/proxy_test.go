package netfault_test

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/oauthkit/tokensource/tokensourcetest/netfault"
)

// echoServer answers each line with the same line, until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

func newProxy(t *testing.T) *netfault.Proxy {
	t.Helper()
	p, err := netfault.New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, p *netfault.Proxy) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// roundTrip sends a line and reads it back within d.
func roundTrip(c net.Conn, r *bufio.Reader, d time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(d))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return "", err
	}
	return r.ReadString('\n')
}

func TestProxyForwards(t *testing.T) {
	c, r := dial(t, newProxy(t))
	if got, err := roundTrip(c, r, 5*time.Second); err != nil || got != "ping\n" {
		t.Fatalf("round trip = %q, %v", got, err)
	}
}

func TestStallHoldsBytesUntilResume(t *testing.T) {
	p := newProxy(t)
	c, r := dial(t, p)
	p.Stall()
	if got, err := roundTrip(c, r, 200*time.Millisecond); err == nil {
		t.Fatalf("round trip through a stalled link = %q, want a timeout", got)
	}
	p.Resume()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if got, err := r.ReadString('\n'); err != nil || got != "ping\n" {
		t.Fatalf("after Resume: %q, %v; want the held line", got, err)
	}
}

func TestStallHoldsNewConnections(t *testing.T) {
	p := newProxy(t)
	p.Stall()
	c, r := dial(t, p)
	if _, err := roundTrip(c, r, 200*time.Millisecond); err == nil {
		t.Fatal("a connection made during a stall carried bytes")
	}
}

func TestResetClosesOpenConnections(t *testing.T) {
	p := newProxy(t)
	c, r := dial(t, p)
	if _, err := roundTrip(c, r, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Reset()
	if _, err := roundTrip(c, r, 5*time.Second); err == nil {
		t.Fatal("a reset connection still carried bytes")
	}
	c2, r2 := dial(t, p)
	if _, err := roundTrip(c2, r2, 5*time.Second); err != nil {
		t.Fatalf("a new connection after Reset: %v", err)
	}
}

func TestRefuseClosesNewConnections(t *testing.T) {
	p := newProxy(t)
	p.Refuse(true)
	c, r := dial(t, p)
	if _, err := roundTrip(c, r, 5*time.Second); err == nil {
		t.Fatal("a refused connection carried bytes")
	}
	p.Refuse(false)
	c2, r2 := dial(t, p)
	if _, err := roundTrip(c2, r2, 5*time.Second); err != nil {
		t.Fatalf("after Refuse(false): %v", err)
	}
}
