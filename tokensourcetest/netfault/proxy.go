// Package netfault is a TCP proxy on loopback that puts real network
// faults between a client and its server, for tests: a link that stalls
// (bytes stop flowing, connections stay open), connections reset, and new
// connections refused. Point the client at [Proxy.Addr] instead of the
// server.
//
// A stall is what a partition or a paused peer looks like to the client:
// its writes are accepted until the kernel's buffers fill, and nothing
// comes back. A reset is what a killed server or a dropped session looks
// like.
package netfault

import (
	"errors"
	"io"
	"net"
	"sync"
)

// A Proxy forwards TCP connections from a listener, on loopback unless
// made with NewOn, to a target address. It is safe for concurrent use. Create it with New; Close it
// when done.
type Proxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	flow   chan struct{} // closed while the link flows; replaced by Stall
	refuse bool
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// New starts a Proxy to target ("host:port") on 127.0.0.1, on a port the
// system picks.
func New(target string) (*Proxy, error) { return NewOn("127.0.0.1:0", target) }

// NewOn starts a Proxy to target listening on addr ("host:port"; port 0
// lets the system pick): for a client that cannot reach loopback, such as
// one in a network namespace of the test's own, given the address of the
// test's end of its link.
func NewOn(addr, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	flowing := make(chan struct{})
	close(flowing)
	p := &Proxy{ln: ln, target: target, flow: flowing, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr returns the address clients should dial: "127.0.0.1:port" for a
// Proxy made by New.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Stall stops every byte in both directions, on open connections and on
// new ones, which are accepted and connected to the target but carry
// nothing, until Resume. Bytes already read are held and sent on Resume.
func (p *Proxy) Stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if isClosed(p.flow) {
		p.flow = make(chan struct{})
	}
}

// Resume lets bytes flow again after Stall.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !isClosed(p.flow) {
		close(p.flow)
	}
}

// Reset closes every open connection at once, with a TCP reset where the
// system allows it; new connections are still accepted.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // a reset, not an orderly close
		}
		c.Close()
	}
}

// Refuse makes the Proxy close each new connection as soon as it is
// accepted (on) or forward it again (off). Open connections are left alone:
// with Reset, it takes the server away.
func (p *Proxy) Refuse(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = on
}

// Close stops the Proxy: it closes the listener and every connection, and
// waits for its goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	if !isClosed(p.flow) {
		close(p.flow)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.Reset()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.refuse || p.closed
		p.mu.Unlock()
		if refuse {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve connects c to the target and forwards both ways until either side
// closes.
func (p *Proxy) serve(c net.Conn) {
	defer p.wg.Done()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	if !p.track(c, up) {
		return
	}
	defer p.untrack(c, up)
	done := make(chan struct{}, 2)
	go func() { p.copy(up, c); done <- struct{}{} }()
	go func() { p.copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
}

// track adds both ends of a proxied connection, unless the Proxy closed.
func (p *Proxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		for _, c := range conns {
			c.Close()
		}
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) untrack(conns ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range conns {
		delete(p.conns, c)
	}
}

// copy forwards src to dst, holding each chunk while the link is stalled.
func (p *Proxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			<-p.flowing()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if tc, ok := dst.(*net.TCPConn); ok && errors.Is(err, io.EOF) {
				tc.CloseWrite()
			}
			return
		}
	}
}

// flowing returns a channel that is closed while the link flows.
func (p *Proxy) flowing() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.flow
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
