package grpcsource_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
	"google.golang.org/grpc/codes"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"
)

// Over a connection without transport security, no token is fetched or
// sent: grpc fails the call before it leaves, and nothing is invalidated.
func TestInsecureConnectionSendsNoToken(t *testing.T) {
	auth := tokensourcetest.NewServer(nil)
	defer auth.Close()
	plain := startAPI(t, auth, true)
	var refreshes atomic.Int64
	src := tokensource.New(func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		refreshes.Add(1)
		return auth.Login(), nil
	}, nil, nil)
	client := testpb.NewTestServiceClient(plain.dial(t, src))

	const want = "transport: cannot send secure credentials on an insecure connection"
	_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	if s := status.Convert(err); s.Code() != codes.Unauthenticated || s.Message() != want {
		t.Errorf("unary call: %v; want Unauthenticated, %q", err, want)
	}
	_, err = client.StreamingOutputCall(t.Context(), outputRequest(1))
	if s := status.Convert(err); s.Code() != codes.Unauthenticated || s.Message() != want {
		t.Errorf("stream: %v; want Unauthenticated, %q", err, want)
	}
	if calls := plain.calls(); len(calls) != 0 {
		t.Errorf("server got %d calls; want none", len(calls))
	}
	if n := refreshes.Load(); n != 0 {
		t.Errorf("%d tokens fetched; want 0", n)
	}
	if st := src.Stats(); st.Invalidations != 0 {
		t.Errorf("Invalidations = %d; want 0", st.Invalidations)
	}
}
