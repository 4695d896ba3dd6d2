package grpcsource_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/oauthkit/tokensource"
	"golang.org/x/oauth2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/oauth"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestUnaryCallCarriesTheSourceToken(t *testing.T) {
	r := newRig(t)
	if _, err := r.client.UnaryCall(t.Context(), &testpb.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	tok, _ := r.src.Token()
	if diff := cmp.Diff([][]string{{"Bearer " + tok.AccessToken}}, r.api.calls()); diff != "" {
		t.Errorf("authorization values the server got (-want +got):\n%s", diff)
	}
}

func TestUnaryRetriesOnceWithANewTokenAfterRevocation(t *testing.T) {
	r := newRig(t)
	if _, err := r.client.UnaryCall(t.Context(), &testpb.SimpleRequest{}); err != nil {
		t.Fatal(err)
	}
	old, _ := r.src.Token()
	r.revoke(t)

	if _, err := r.client.UnaryCall(t.Context(), &testpb.SimpleRequest{}); err != nil {
		t.Fatalf("call after a revocation: %v", err)
	}
	tok, _ := r.src.Token()
	want := [][]string{{"Bearer " + old.AccessToken}, {"Bearer " + old.AccessToken}, {"Bearer " + tok.AccessToken}}
	if diff := cmp.Diff(want, r.api.calls()); diff != "" {
		t.Errorf("authorization values the server got (-want +got):\n%s", diff)
	}
	r.wantStats(t, 1, 1)
}

// A server that rejects every token sees each call twice: the retry is
// made once.
func TestUnaryIsSentAtMostTwice(t *testing.T) {
	r := newRig(t)
	r.api.rejectAll.Store(true)
	_, err := r.client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("err = %v; want Unauthenticated", err)
	}
	r.wantCalls(t, 2)
}

func TestUnaryOtherCodesAreReturnedAsTheyAre(t *testing.T) {
	for _, code := range []codes.Code{codes.PermissionDenied, codes.NotFound, codes.Unavailable, codes.Internal, codes.ResourceExhausted} {
		t.Run(code.String(), func(t *testing.T) {
			r := newRig(t)
			req := &testpb.SimpleRequest{ResponseStatus: &testpb.EchoStatus{Code: int32(code), Message: "from the handler"}}
			if code == codes.PermissionDenied {
				// As a resource server says it: the token lacks a scope.
				r.auth.RequireScope("admin")
				req = &testpb.SimpleRequest{}
			}
			_, err := r.client.UnaryCall(t.Context(), req)
			if status.Code(err) != code {
				t.Fatalf("err = %v; want %v", err, code)
			}
			r.wantCalls(t, 1)
			r.wantStats(t, 0, 0)
		})
	}
}

// A call that brings its own credentials is made as it is: one
// authorization value, the caller's, and no retry when it is rejected.
func TestUnaryCallerCredentialsAreLeftAlone(t *testing.T) {
	own := "Bearer caller-token"
	for name, call := range map[string]func(context.Context, testpb.TestServiceClient) error{
		"metadata": func(ctx context.Context, c testpb.TestServiceClient) error {
			ctx = metadata.AppendToOutgoingContext(ctx, "Authorization", own)
			_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{})
			return err
		},
		"call option": func(ctx context.Context, c testpb.TestServiceClient) error {
			creds := oauth.TokenSource{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "caller-token"})}
			_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{}, grpc.PerRPCCredentials(creds))
			return err
		},
		// grpc takes a pointer to the option as well.
		"call option as a pointer": func(ctx context.Context, c testpb.TestServiceClient) error {
			creds := oauth.TokenSource{TokenSource: oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "caller-token"})}
			_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{}, &grpc.PerRPCCredsCallOption{Creds: creds})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t)
			if err := call(t.Context(), r.client); status.Code(err) != codes.Unauthenticated {
				t.Fatalf("err = %v; want Unauthenticated", err)
			}
			if diff := cmp.Diff([][]string{{own}}, r.api.calls()); diff != "" {
				t.Errorf("authorization values the server got (-want +got):\n%s", diff)
			}
			r.wantStats(t, 0, 0)
		})
	}
}

// When no token can be had, the call is not sent, and its error is the
// Source's, with a status code.
func TestUnaryWithoutATokenFailsWithTheSourceError(t *testing.T) {
	r := newRig(t)
	src := tokensource.New(func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		return nil, tokensource.ErrReauthRequired
	}, nil, nil)
	client := testpb.NewTestServiceClient(r.api.dial(t, src))

	_, err := client.UnaryCall(t.Context(), &testpb.SimpleRequest{})
	if !errors.Is(err, tokensource.ErrReauthRequired) {
		t.Errorf("err = %v; want one that wraps ErrReauthRequired", err)
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("code = %v; want Unauthenticated", status.Code(err))
	}
	r.wantCalls(t, 0)
}

// A caller whose context ends while the refresh runs gets the code of its
// context, not Unauthenticated.
func TestUnaryCanceledWhileWaitingForATokenIsCanceled(t *testing.T) {
	r := newRig(t)
	started, release := make(chan struct{}), make(chan struct{})
	src := tokensource.New(func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		close(started)
		<-release
		return nil, errors.New("too late")
	}, nil, nil)
	defer src.Wait(context.Background())
	defer close(release)
	client := testpb.NewTestServiceClient(r.api.dial(t, src))

	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-started
		cancel()
	}()
	_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{})
	if status.Code(err) != codes.Canceled {
		t.Errorf("err = %v; want Canceled", err)
	}
}
