package grpcsource

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"

	"github.com/oauthkit/tokensource"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

// StreamClientInterceptor returns an interceptor that opens each stream
// with a token from src, got with the stream's context, as per-RPC
// credentials that require transport security. No Option is defined yet.
//
// A message received, or any end of the stream but codes.Unauthenticated
// (and Canceled, DeadlineExceeded and Unavailable, which grpc makes up when
// no answer came), confirms the token the stream carried
// ([tokensource.Source.Confirm]); an Unauthenticated invalidates it, so
// that the next call gets a new one. If that is the stream's first
// response, the stream is also opened once more, with a new token, and
// RecvMsg returns what the new stream gives, provided the client sent at
// most one message and closed its side (CloseSend) before: every
// server-streaming call, and a client-streaming call of one message. Other
// streams, and a stream that received a message before the rejection, get
// the error; the caller may open them anew. A stream is opened at most
// twice, and each rejection is reported to the Source's Unauthorized hook
// ([tokensource.Source.Rejected]).
//
// A rejection usually comes without a header: Header, called before the
// first RecvMsg, then opens the stream once more itself, and returns the
// new stream's header. Header, Trailer and Context are always those of the
// stream in use. Once the first response has come, SendMsg and RecvMsg
// take no lock.
//
// The errors of opening a stream, no token to be had included, are those
// of [UnaryClientInterceptor]. A stream that brings its own credentials is
// opened as it is.
func StreamClientInterceptor(src *tokensource.Source, opts ...Option) grpc.StreamClientInterceptor {
	_ = newConfig(opts)
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		if hasCredentials(ctx, opts) {
			return streamer(ctx, desc, cc, method, opts...)
		}
		s := &stream{src: src, ctx: ctx, opts: opts, open: func(opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(ctx, desc, cc, method, opts...)
		}}
		a, err := s.openAttempt(false)
		if err != nil {
			return nil, err
		}
		s.cur.Store(a)
		return s, nil
	}
}

// attempt is one opening of a stream.
type attempt struct {
	cs     grpc.ClientStream
	creds  *callCreds
	second bool                  // opened again after a rejection
	end    atomic.Pointer[error] // how it ended, once it has, as grpc.OnFinish says
}

// ended returns how a ended, and false if grpc has not said yet.
func (a *attempt) ended() (error, bool) {
	if p := a.end.Load(); p != nil {
		return *p, true
	}
	return nil, false
}

// stream is a grpc.ClientStream that can be opened once more when its first
// response rejects its token.
type stream struct {
	src  *tokensource.Source
	ctx  context.Context // the caller's, for what is reported to src
	open func(opts ...grpc.CallOption) (grpc.ClientStream, error)
	opts []grpc.CallOption

	cur      atomic.Pointer[attempt] // the attempt in use, replaced at most once before settled
	settled  atomic.Bool             // the first response came: nothing more to keep or retry
	reported atomic.Bool             // the outcome of the second attempt was reported

	// Until settled: SendMsg and CloseSend may run in another goroutine
	// than RecvMsg, and Header in a third.
	mu      sync.Mutex
	sent    int   // messages sent
	first   any   // the first of them, kept for a retry
	closed  bool  // CloseSend was called
	retried bool  // the stream was opened once more
	failed  error // why it could not be
}

// openAttempt opens the stream with a new token.
func (s *stream) openAttempt(second bool) (*attempt, error) {
	a := &attempt{second: second}
	// grpc.OnFinish tells Header how an attempt without a header ended.
	onFinish := grpc.OnFinish(func(err error) { a.end.Store(&err) })
	withToken, creds := withCreds(s.src, append(s.opts[:len(s.opts):len(s.opts)], onFinish))
	cs, err := s.open(withToken...)
	if err != nil {
		return nil, err
	}
	a.cs, a.creds = cs, creds
	return a, nil
}

// SendMsg sends m on the current attempt, and, until the first response,
// keeps m for a retry if it is the first message.
func (s *stream) SendMsg(m any) error {
	if s.settled.Load() {
		return s.cur.Load().cs.SendMsg(m)
	}
	s.mu.Lock()
	a := s.cur.Load()
	s.sent++
	if s.sent == 1 {
		s.first = m
	} else {
		s.first = nil
	}
	s.mu.Unlock()
	return a.cs.SendMsg(m)
}

// CloseSend closes the send side of the current attempt, and notes it: the
// request is then complete, and can be sent again.
func (s *stream) CloseSend() error {
	if !s.settled.Load() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	}
	return s.cur.Load().cs.CloseSend()
}

// RecvMsg receives the next message, and tells the Source what the server
// made of the token (see callCreds.report). The first response may open
// the stream once more; see StreamClientInterceptor.
func (s *stream) RecvMsg(m any) error {
	a := s.cur.Load()
	err := a.cs.RecvMsg(m)
	if !s.settled.Load() {
		return s.firstResponse(a, m, err)
	}
	if a.creds.report(s.ctx, err) {
		s.src.Rejected(s.ctx, tokensource.UnauthorizedInfo{Outcome: tokensource.RejectionReturned})
	}
	return err
}

// firstResponse handles err, what the first RecvMsg(m) of attempt a
// returned, and settles the stream.
func (s *stream) firstResponse(a *attempt, m any, err error) error {
	defer s.settle()
	rejected := a.creds.report(s.ctx, err)
	switch {
	case a.second:
		s.reportSecond(a, err)
		return err
	case !rejected:
		return err
	}
	b, reopenErr := s.replace(a)
	switch {
	case reopenErr != nil:
		s.reportSecond(nil, reopenErr)
		return reopenErr
	case b == nil:
		s.src.Rejected(s.ctx, tokensource.UnauthorizedInfo{Outcome: tokensource.RejectionReturned})
		return err
	}
	err = b.cs.RecvMsg(m)
	b.creds.report(s.ctx, err)
	s.reportSecond(b, err)
	return err
}

// replace opens the stream once more after attempt a's token was rejected.
// It returns the new attempt, opened now or by a concurrent Header or
// RecvMsg, or nil if the stream cannot be opened again: only a request
// that is complete (the client closed its side) after at most one message
// is kept, so that an upload is never held in memory and no replay races a
// goroutine that is still sending.
func (s *stream) replace(a *attempt) (*attempt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cur := s.cur.Load(); cur != a {
		return cur, nil
	}
	if s.retried || !s.closed || s.sent > 1 {
		return nil, s.failed
	}
	s.retried = true
	b, err := s.openAttempt(true)
	if err == nil && s.sent == 1 {
		// io.EOF means the new attempt ended already; its RecvMsg tells why.
		if err = b.cs.SendMsg(s.first); errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if err != nil {
		s.failed = err
		return nil, err
	}
	b.cs.CloseSend()
	s.first = nil
	s.cur.Store(b)
	return b, nil
}

// reportSecond reports, once, what came of the stream opened again: b's
// first response err, or, with a nil b, the error that kept it from
// opening.
func (s *stream) reportSecond(b *attempt, err error) {
	if !s.reported.CompareAndSwap(false, true) {
		return
	}
	outcome := tokensource.RejectionError
	if b != nil {
		outcome = b.creds.outcome(err)
	}
	s.src.Rejected(s.ctx, tokensource.UnauthorizedInfo{Retried: true, Outcome: outcome})
}

// settle drops what was kept for a retry: from now on, messages go through
// without a lock.
func (s *stream) settle() {
	s.mu.Lock()
	s.first = nil
	s.mu.Unlock()
	s.settled.Store(true)
}

// Header returns the header metadata of the attempt in use. Before the
// first response, an attempt that ended without a header because its token
// was rejected (a rejection has trailers only) is replaced, as RecvMsg would
// replace it, and the new attempt's header is returned.
func (s *stream) Header() (metadata.MD, error) {
	a := s.cur.Load()
	md, err := a.cs.Header()
	if md != nil || err != nil || a.second || s.settled.Load() {
		return md, err
	}
	end, ok := a.ended()
	if !ok || !a.creds.report(s.ctx, end) {
		return md, err
	}
	b, reopenErr := s.replace(a)
	if b == nil || reopenErr != nil {
		return md, err // RecvMsg returns the error, and reports it
	}
	md, err = b.cs.Header()
	if md != nil {
		s.reportSecond(b, nil) // a server sends a header once it accepted the token
	} else if end, ok := b.ended(); ok {
		s.reportSecond(b, end)
	}
	return md, err
}

// Trailer returns the trailer metadata of the attempt in use.
func (s *stream) Trailer() metadata.MD {
	return s.cur.Load().cs.Trailer()
}

// Context returns the context of the attempt in use.
func (s *stream) Context() context.Context {
	return s.cur.Load().cs.Context()
}
