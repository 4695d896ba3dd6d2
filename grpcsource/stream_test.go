package grpcsource_test

import (
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// outputRequest asks StreamingOutputCall for n responses of one byte.
func outputRequest(n int) *testpb.StreamingOutputCallRequest {
	req := &testpb.StreamingOutputCallRequest{}
	for range n {
		req.ResponseParameters = append(req.ResponseParameters, &testpb.ResponseParameters{Size: 1})
	}
	return req
}

// The three responses show that the request sent again is the one sent.
func TestServerStreamIsOpenedAgainAfterRevocation(t *testing.T) {
	r := newRig(t)
	r.revoke(t)
	if n, err := outputStream(t.Context(), r.client, outputRequest(3)); n != 3 || err != nil {
		t.Fatalf("received %d messages, then %v; want 3, then io.EOF", n, err)
	}
	r.wantCalls(t, 2)
	r.wantStats(t, 1, 1)
}

func TestClientStreamOfOneMessageIsOpenedAgainAfterRevocation(t *testing.T) {
	r := newRig(t)
	r.revoke(t)
	s, err := r.client.StreamingInputCall(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&testpb.StreamingInputCallRequest{Payload: &testpb.Payload{Body: make([]byte, 5)}}); err != nil && err != io.EOF {
		t.Fatal(err)
	}
	resp, err := s.CloseAndRecv()
	if err != nil {
		t.Fatalf("CloseAndRecv: %v", err)
	}
	if got := resp.GetAggregatedPayloadSize(); got != 5 {
		t.Errorf("server received %d bytes; want 5", got)
	}
	r.wantCalls(t, 2)
	r.wantStats(t, 1, 1)
}

// Streams whose request cannot be replayed in full get the error, and the
// token is invalidated all the same: the next stream carries a new one.
func TestStreamThatCannotBeReplayedGetsTheError(t *testing.T) {
	for name, run := range map[string]func(t *testing.T, c testpb.TestServiceClient) error{
		"bidi still sending": func(t *testing.T, c testpb.TestServiceClient) error {
			s, err := c.FullDuplexCall(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			defer s.CloseSend()
			if err := s.Send(outputRequest(1)); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			_, err = s.Recv()
			return err
		},
		"client stream of two messages": func(t *testing.T, c testpb.TestServiceClient) error {
			s, err := c.StreamingInputCall(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if err := s.Send(&testpb.StreamingInputCallRequest{}); err != nil && err != io.EOF {
					t.Fatal(err)
				}
			}
			_, err = s.CloseAndRecv()
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			r.revoke(t)
			if err := run(t, r.client); status.Code(err) != codes.Unauthenticated {
				t.Fatalf("err = %v; want Unauthenticated", err)
			}
			r.wantCalls(t, 1)
			r.wantStats(t, 0, 1)
			if err := run(t, r.client); err != nil {
				t.Errorf("next stream: %v", err)
			}
		})
	}
}

// Once a message has arrived, an Unauthenticated ends the stream as it is;
// the token is invalidated for the next call.
func TestStreamRejectedAfterAMessageIsNotOpenedAgain(t *testing.T) {
	r := newRig(t)
	req := outputRequest(1)
	req.ResponseStatus = &testpb.EchoStatus{Code: int32(codes.Unauthenticated), Message: "session ended"}
	if n, err := outputStream(t.Context(), r.client, req); n != 1 || status.Code(err) != codes.Unauthenticated {
		t.Fatalf("received %d messages, then %v; want 1, then Unauthenticated", n, err)
	}
	r.wantCalls(t, 1)
	r.wantStats(t, 0, 1)
}

// A server that rejects every token sees a stream twice at most.
func TestStreamIsOpenedAtMostTwice(t *testing.T) {
	r := newRig(t)
	r.api.rejectAll.Store(true)
	if _, err := outputStream(t.Context(), r.client, outputRequest(1)); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("err = %v; want Unauthenticated", err)
	}
	r.wantCalls(t, 2)
}

func TestStreamOtherCodesAreReturnedAsTheyAre(t *testing.T) {
	r := newRig(t)
	r.auth.RequireScope("admin")
	if _, err := outputStream(t.Context(), r.client, outputRequest(1)); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("err = %v; want PermissionDenied", err)
	}
	r.wantCalls(t, 1)
	r.wantStats(t, 0, 0)
}
