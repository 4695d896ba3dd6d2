package grpcsource_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/grpcsource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// stoppedClock returns Options whose clock moves only when told, so that
// a backoff never ends by itself.
func stoppedClock() (*tokensource.Options, *tokensourcetest.Clock) {
	clock := tokensourcetest.NewClock(time.Now())
	return &tokensource.Options{Now: clock.Now}, clock
}

// Against a server that rejects every token, the first two calls cost one
// refresh each: two new tokens in a row are rejected before they ever
// worked, so the Source backs off, and the next calls fail at once without
// reaching the server. Once the server accepts tokens again, a call after
// the backoff succeeds.
func TestEveryTokenRejectedCostsTwoRefreshesThenBacksOff(t *testing.T) {
	opts, clock := stoppedClock()
	r := newRigWith(t, opts)
	r.api.rejectAll.Store(true)
	for i := range 20 {
		err := call(t.Context(), r.client, i)
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("call %d: %v; want Unauthenticated", i, err)
		}
		var be *tokensource.BackoffError
		if i > 0 && !errors.As(err, &be) {
			t.Errorf("call %d: %v; want a BackoffError", i, err)
		}
	}
	if n := r.auth.Stats().Refreshes; n != 2 {
		t.Errorf("token endpoint served %d refreshes; want 2", n)
	}
	r.wantCalls(t, 3) // the first call and its retry, the second call

	r.api.rejectAll.Store(false)
	clock.Advance(2 * time.Minute) // past any backoff after one failure
	for i := range 2 {
		if err := call(t.Context(), r.client, i); err != nil {
			t.Errorf("call after the server recovered: %v", err)
		}
	}
}

// A token that worked and is then revoked costs one refresh, each time:
// the interceptors confirm every token that works, so the Source does not
// take a revocation for a server that rejects every new token.
func TestRevocationsOfWorkingTokensEachCostOneRefresh(t *testing.T) {
	for _, kind := range []struct {
		name   string
		worker int // call's choice: even for unary, odd for a stream
	}{{"unary", 0}, {"stream", 1}} {
		t.Run(kind.name, func(t *testing.T) {
			opts, _ := stoppedClock()
			r := newRigWith(t, opts)
			const rounds = 5
			for i := range rounds {
				r.revoke(t)
				if err := call(t.Context(), r.client, kind.worker); err != nil {
					t.Fatalf("round %d: %v", i, err)
				}
			}
			r.wantStats(t, rounds, rounds)
		})
	}
}

// grpc may ask a call's credentials for metadata twice (a transparent
// retry). When the second ask fails in the Source, no server judged the
// token the first one got: it is not invalidated, and the call is not made
// again.
func TestCredentialsFailingWhenAskedAgainInvalidateNothing(t *testing.T) {
	opts, clock := stoppedClock()
	auth := tokensourcetest.NewServer(nil)
	defer auth.Close()
	src, err := loggedIn(auth, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := credentials.NewContextWithRequestInfo(t.Context(), credentials.RequestInfo{
		AuthInfo: credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}},
	})
	invoked := 0
	invoker := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, opts ...grpc.CallOption) error {
		invoked++
		for _, o := range opts {
			if c, ok := perRPCCreds(o); ok {
				if _, err := c.GetRequestMetadata(ctx); err != nil {
					t.Fatalf("first ask: %v", err)
				}
				clock.Advance(2 * time.Hour) // the token expires, and its refresh fails
				auth.FailNext(1, tokensourcetest.FaultServerError)
				_, err := c.GetRequestMetadata(ctx)
				return err
			}
		}
		t.Fatal("no per-RPC credentials")
		return nil
	}
	err = grpcsource.UnaryClientInterceptor(src)(ctx, "/grpc.testing.TestService/UnaryCall", nil, nil, nil, invoker)
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("err = %v, want Unauthenticated", err)
	}
	if invoked != 1 {
		t.Errorf("invoked %d times, want 1", invoked)
	}
	if n := src.Stats().Invalidations; n != 0 {
		t.Errorf("%d invalidations, want 0", n)
	}
}

// The credentials check the connection's security themselves: on any
// transport, a connection without privacy and integrity gets no token.
func TestCredentialsRefuseAnInsecureConnection(t *testing.T) {
	auth := tokensourcetest.NewServer(nil)
	defer auth.Close()
	src, err := loggedIn(auth, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := credentials.NewContextWithRequestInfo(t.Context(), credentials.RequestInfo{
		AuthInfo: credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}},
	})
	invoker := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, opts ...grpc.CallOption) error {
		for _, o := range opts {
			if c, ok := perRPCCreds(o); ok {
				md, err := c.GetRequestMetadata(ctx)
				if md != nil {
					t.Errorf("metadata %v sent over an insecure connection", md)
				}
				return err
			}
		}
		return nil
	}
	err = grpcsource.UnaryClientInterceptor(src)(ctx, "/grpc.testing.TestService/UnaryCall", nil, nil, nil, invoker)
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("err = %v, want Unauthenticated", err)
	}
}

// perRPCCreds returns the per-RPC credentials o carries, given as grpc
// takes them: a grpc.PerRPCCredsCallOption or a pointer to one (the
// interceptors pass a pointer).
func perRPCCreds(o grpc.CallOption) (credentials.PerRPCCredentials, bool) {
	switch o := o.(type) {
	case grpc.PerRPCCredsCallOption:
		return o.Creds, true
	case *grpc.PerRPCCredsCallOption:
		if o != nil {
			return o.Creds, true
		}
	}
	return nil, false
}
