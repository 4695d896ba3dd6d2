package grpcsource

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthkit/tokensource"
	"golang.org/x/oauth2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// nopStream is a grpc.ClientStream whose every method returns at once.
type nopStream struct{}

func (nopStream) Header() (metadata.MD, error) { return metadata.MD{}, nil }
func (nopStream) Trailer() metadata.MD         { return nil }
func (nopStream) CloseSend() error             { return nil }
func (nopStream) Context() context.Context     { return context.Background() }
func (nopStream) SendMsg(any) error            { return nil }
func (nopStream) RecvMsg(any) error            { return nil }

// establishedStream returns the interceptor's stream around cs, as it is
// once its first response came, with a token its Source serves.
func establishedStream(tb testing.TB, cs grpc.ClientStream) *stream {
	tb.Helper()
	src := tokensource.New(func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "at", Expiry: time.Now().Add(time.Hour)}, nil
	}, nil, nil)
	tok, err := src.TokenContext(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	_, creds := withCreds(src, nil)
	creds.sent.Store(tok)
	s := &stream{src: src, ctx: context.Background()}
	s.cur.Store(&attempt{cs: cs, creds: creds})
	s.settle()
	return s
}

// whileLocked runs fn while s's mutex is held, and reports whether fn ran
// to its end without waiting: a method that takes the lock would wait for
// it. fn stores a growing count in progress as it goes; when the count
// stays the same for a tenth of a second, fn is taken to be waiting, and
// the lock is let go, so that fn ends all the same.
func whileLocked(s *stream, fn func(progress *atomic.Int64)) (returned bool) {
	var progress atomic.Int64
	s.mu.Lock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(&progress)
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for last := int64(-1); ; {
		select {
		case <-done:
			s.mu.Unlock()
			return true
		case <-tick.C:
		}
		if n := progress.Load(); n != last {
			last = n
			continue
		}
		s.mu.Unlock()
		<-done
		return false
	}
}

// Once established, a stream passes messages, and answers Header, Trailer,
// Context and CloseSend, without its lock.
func TestEstablishedStreamTakesNoLock(t *testing.T) {
	s := establishedStream(t, nopStream{})
	var wg sync.WaitGroup
	if !whileLocked(s, func(progress *atomic.Int64) {
		wg.Go(func() {
			for range 100 {
				s.SendMsg(nil)
				progress.Add(1)
			}
		})
		for range 100 {
			s.RecvMsg(nil)
			progress.Add(1)
		}
		wg.Wait()
		s.Header()
		s.Trailer()
		s.Context()
		s.CloseSend()
	}) {
		t.Fatal("an established stream waited for its lock")
	}
}

// BenchmarkStreamMessage sends and receives a message on an established
// stream, with the interceptor's wrapper and on the bare stream, which does
// nothing: what the wrapper adds to each message. The stream's lock is held
// throughout, so that a message that took it would stop the benchmark.
func BenchmarkStreamMessage(b *testing.B) {
	s := establishedStream(b, nopStream{})
	for _, side := range []struct {
		name string
		cs   grpc.ClientStream
	}{{"grpcsource", s}, {"plain", nopStream{}}} {
		b.Run(side.name, func(b *testing.B) {
			b.ReportAllocs()
			if !whileLocked(s, func(progress *atomic.Int64) {
				for i := int64(1); b.Loop(); i++ {
					side.cs.SendMsg(nil)
					side.cs.RecvMsg(nil)
					if i%1024 == 0 {
						progress.Store(i)
					}
				}
			}) {
				b.Fatal("a message waited for the stream's lock")
			}
		})
	}
}
