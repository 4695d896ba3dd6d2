package grpcsource

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/oauthkit/tokensource"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// StreamClientInterceptor returns an interceptor that opens each stream
// with a token from src, got with the stream's context, as per-RPC
// credentials that require transport security.
//
// A message received, or the stream's success, confirms the token the
// stream carried ([tokensource.Source.Confirm]); a RecvMsg that fails with
// codes.Unauthenticated invalidates it, so that the next call gets a new
// one. If it is the first RecvMsg, the stream is also opened once more,
// with a new token, and RecvMsg returns what the new stream gives, provided
// the client sent at most one message and closed its side (CloseSend)
// before that RecvMsg: every server-streaming call, and a client-streaming
// call of one message. Other streams, and a stream that received a message
// before the rejection, get the error; the caller may open them anew. A
// stream is opened at most twice.
//
// The errors of opening a stream, no token to be had included, are those
// of [UnaryClientInterceptor]. A stream that brings its own credentials is
// opened as it is.
func StreamClientInterceptor(src *tokensource.Source) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if hasCredentials(ctx, opts) {
			return streamer(ctx, desc, cc, method, opts...)
		}
		s := &stream{src: src, open: func(opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(ctx, desc, cc, method, opts...)
		}, opts: opts}
		withToken, creds := withCreds(src, opts)
		cs, err := s.open(withToken...)
		if err != nil {
			return nil, err
		}
		s.cs, s.creds = cs, creds
		return s, nil
	}
}

// stream is a grpc.ClientStream that can be opened once more when its first
// response rejects its token.
type stream struct {
	src  *tokensource.Source
	open func(opts ...grpc.CallOption) (grpc.ClientStream, error)
	opts []grpc.CallOption

	// Owned by RecvMsg, which grpc does not allow in two goroutines at once.
	responded bool // the current attempt's first RecvMsg returned
	retried   bool // the stream was opened once more

	// SendMsg and CloseSend may run in another goroutine than RecvMsg.
	mu      sync.Mutex
	cs      grpc.ClientStream // the current attempt
	creds   *callCreds        // its credentials
	sent    int               // messages sent, until settled
	first   any               // the first of them, kept for a retry
	closed  bool              // CloseSend was called
	settled bool              // the first response arrived: nothing more to keep
}

func (s *stream) current() (grpc.ClientStream, *callCreds) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cs, s.creds
}

// SendMsg sends m on the current attempt, and keeps m for a retry if it is
// the first message.
func (s *stream) SendMsg(m any) error {
	cs, _ := s.current()
	err := cs.SendMsg(m)
	s.mu.Lock()
	if !s.settled {
		s.sent++
		if s.sent == 1 {
			s.first = m
		} else {
			s.first = nil
		}
	}
	s.mu.Unlock()
	return err
}

// CloseSend closes the send side of the current attempt, and notes it: the
// request is then complete, and can be sent again.
func (s *stream) CloseSend() error {
	s.mu.Lock()
	s.closed = true
	cs := s.cs
	s.mu.Unlock()
	return cs.CloseSend()
}

// RecvMsg receives the next message, and tells the Source what the server
// made of the token (see callCreds.report). On the first RecvMsg, a
// rejection may open the stream once more; see StreamClientInterceptor.
func (s *stream) RecvMsg(m any) error {
	cs, creds := s.current()
	err := cs.RecvMsg(m)
	rejected := creds.report(err)
	if s.responded {
		return err
	}
	s.responded = true
	if rejected && !s.retried && s.replayable() {
		if err := s.reopen(); err != nil {
			return err
		}
		s.responded = false
		return s.RecvMsg(m) // the new attempt's first RecvMsg; it will not retry
	}
	s.settle()
	return err
}

// replayable reports whether the request can be sent again in full: the
// client closed its side after at most one message. Only one message is
// kept, so that an upload is never held in memory, and a closed side means
// no replay races a goroutine that is still sending.
func (s *stream) replayable() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed && s.sent <= 1
}

// settle drops what was kept for a retry.
func (s *stream) settle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settled, s.first = true, nil
}

// reopen opens a new attempt with a new token and sends the request again.
// The client has closed its side, so no SendMsg runs meanwhile.
func (s *stream) reopen() error {
	s.retried = true
	s.mu.Lock()
	sent, first := s.sent, s.first
	s.mu.Unlock()
	s.settle()

	withToken, creds := withCreds(s.src, s.opts)
	cs, err := s.open(withToken...)
	if err != nil {
		return err
	}
	// io.EOF means the new attempt ended already; its RecvMsg tells why.
	if sent == 1 {
		if err := cs.SendMsg(first); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	cs.CloseSend()
	s.mu.Lock()
	s.cs, s.creds = cs, creds
	s.mu.Unlock()
	return nil
}

// Header returns the current attempt's header metadata.
func (s *stream) Header() (metadata.MD, error) {
	cs, _ := s.current()
	return cs.Header()
}

// Trailer returns the current attempt's trailer metadata.
func (s *stream) Trailer() metadata.MD {
	cs, _ := s.current()
	return cs.Trailer()
}

// Context returns the current attempt's context.
func (s *stream) Context() context.Context {
	cs, _ := s.current()
	return cs.Context()
}
