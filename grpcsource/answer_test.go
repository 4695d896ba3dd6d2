package grpcsource_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/oauthkit/tokensource"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// A server that accepts the token and answers NotFound has judged it: over
// 5 revocations, each answered so once the call is made again, every token
// is confirmed, and each revocation costs one refresh and no failure, as
// the Transport does with 404s.
func TestRevocationsAnsweredWithNotFoundCostNoRefreshError(t *testing.T) {
	notFound := &testpb.EchoStatus{Code: int32(codes.NotFound), Message: "no such item"}
	for name, call := range map[string]func(context.Context, testpb.TestServiceClient) error{
		"unary": func(ctx context.Context, c testpb.TestServiceClient) error {
			_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{ResponseStatus: notFound})
			return err
		},
		"stream": func(ctx context.Context, c testpb.TestServiceClient) error {
			req := outputRequest(0)
			req.ResponseStatus = notFound
			_, err := outputStream(ctx, c, req)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			opts, _ := stoppedClock()
			r := newRigWith(t, opts)
			const rounds = 5
			for i := range rounds {
				r.revoke(t)
				if err := call(t.Context(), r.client); status.Code(err) != codes.NotFound {
					t.Fatalf("round %d: %v; want NotFound", i, err)
				}
			}
			if st := r.src.Stats(); st.Refreshes != rounds || st.RefreshErrors != 0 || st.Invalidations != rounds {
				t.Errorf("Stats = %+v; want %d refreshes and invalidations, no refresh error", st, rounds)
			}
			r.wantCalls(t, 2*rounds)
		})
	}
}

// A stream opened again after a rejection is the stream in use: its
// header, read before the first Recv, is the server's, and so is its
// trailer.
func TestReplayedStreamHeaderIsTheNewStreams(t *testing.T) {
	r := newRig(t)
	r.revoke(t)
	s, err := r.client.StreamingOutputCall(t.Context(), outputRequest(3))
	if err != nil {
		t.Fatal(err)
	}
	md, err := s.Header()
	if err != nil || len(md.Get("x-cursor")) != 1 || md.Get("x-cursor")[0] != "c1" {
		t.Fatalf("Header() = %v, %v; want x-cursor: c1", md, err)
	}
	n := 0
	for ; ; n++ {
		if _, err := s.Recv(); err != nil {
			break
		}
	}
	if n != 3 {
		t.Errorf("received %d messages; want 3", n)
	}
	if md, err := s.Header(); err != nil || md.Get("x-cursor")[0] != "c1" {
		t.Errorf("Header() after the messages = %v, %v; want x-cursor: c1", md, err)
	}
	if s.Trailer() == nil {
		t.Errorf("Trailer() = nil; want the trailer of the stream that ended")
	}
	if err := s.Context().Err(); err == nil {
		t.Errorf("Context of the stream that ended is not done")
	}
	r.wantCalls(t, 2)
	r.wantStats(t, 1, 1)
}

// tally records the outcome of each rejection reported to the Source's
// Unauthorized hook, and whether it came with the call's context.
type tally struct {
	mu  sync.Mutex
	got []string
}

type callKey struct{}

func (ta *tally) hooks() *tokensource.Hooks {
	return &tokensource.Hooks{Unauthorized: func(ctx context.Context, info tokensource.UnauthorizedInfo) {
		ta.mu.Lock()
		defer ta.mu.Unlock()
		ta.got = append(ta.got, fmt.Sprintf("%v retried=%v %s", ctx.Value(callKey{}), info.Retried, info.Outcome))
	}}
}

func (ta *tally) take() []string {
	ta.mu.Lock()
	defer ta.mu.Unlock()
	got := ta.got
	ta.got = nil
	return got
}

// Every rejection is reported once, with the call's context, and the
// outcome a Transport would report for the same answers.
func TestRejectionsAreReported(t *testing.T) {
	ta := &tally{}
	r := newRigWith(t, &tokensource.Options{Hooks: ta.hooks()})
	ctx := func(name string) context.Context { return context.WithValue(t.Context(), callKey{}, name) }
	check := func(want ...string) {
		t.Helper()
		if diff := cmp.Diff(want, ta.take()); diff != "" {
			t.Errorf("rejections reported (-want +got):\n%s", diff)
		}
	}

	r.revoke(t)
	if err := call(ctx("unary"), r.client, 0); err != nil {
		t.Fatal(err)
	}
	check("unary retried=true recovered")

	r.revoke(t)
	if err := call(ctx("stream"), r.client, 1); err != nil {
		t.Fatal(err)
	}
	check("stream retried=true recovered")

	r.revoke(t)
	s, err := r.client.StreamingOutputCall(ctx("header"), outputRequest(1))
	if err != nil {
		t.Fatal(err)
	}
	s.Header()
	s.Recv()
	check("header retried=true recovered")

	r.api.rejectAll.Store(true)
	call(ctx("unary rejected"), r.client, 0)
	check("unary rejected retried=true rejected")

	r.api.rejectAll.Store(false)
	req := outputRequest(1)
	req.ResponseStatus = &testpb.EchoStatus{Code: int32(codes.Unauthenticated), Message: "session ended"}
	if _, err := outputStream(ctx("after a message"), r.client, req); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("err = %v; want Unauthenticated", err)
	}
	check("after a message retried=false returned")
}
