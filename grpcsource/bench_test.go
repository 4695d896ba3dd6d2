package grpcsource_test

import (
	"context"
	"net"
	"testing"

	"github.com/oauthkit/tokensource/grpcsource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/oauth"
	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// BenchmarkUnaryCall makes unary calls over TLS on loopback to a server that
// does not check tokens, with the interceptor, and with plain per-RPC
// credentials (what it costs to react to Unauthenticated).
func BenchmarkUnaryCall(b *testing.B) {
	auth := tokensourcetest.NewServer(nil)
	defer auth.Close()
	src, err := loggedIn(auth, nil)
	if err != nil {
		b.Fatal(err)
	}
	cert, roots, err := selfSigned()
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewServerTLSFromCert(&cert)))
	testpb.RegisterTestServiceServer(srv, testService{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(lis)
	defer srv.Stop()
	tc := grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(roots, ""))

	for _, side := range []struct {
		name string
		opt  grpc.DialOption
	}{
		{"grpcsource", grpc.WithUnaryInterceptor(grpcsource.UnaryClientInterceptor(src))},
		{"oauth-TokenSource", grpc.WithPerRPCCredentials(oauth.TokenSource{TokenSource: src})},
	} {
		b.Run(side.name, func(b *testing.B) {
			conn, err := grpc.NewClient(lis.Addr().String(), tc, side.opt)
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			client := testpb.NewTestServiceClient(conn)
			req := &testpb.SimpleRequest{}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.UnaryCall(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCredentials isolates what each side adds to a call, without the
// call: the interceptor with an invoker that asks the call's per-RPC
// credentials for metadata, as grpc's transport does, next to
// oauth.TokenSource asked for metadata.
func BenchmarkCredentials(b *testing.B) {
	auth := tokensourcetest.NewServer(nil)
	defer auth.Close()
	src, err := loggedIn(auth, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx := credentials.NewContextWithRequestInfo(context.Background(), credentials.RequestInfo{
		AuthInfo: credentials.TLSInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}},
	})
	const uri = "https://127.0.0.1/grpc.testing.TestService"

	b.Run("grpcsource", func(b *testing.B) {
		intercept := grpcsource.UnaryClientInterceptor(src)
		invoker := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, opts ...grpc.CallOption) error {
			for _, o := range opts {
				if c, ok := perRPCCreds(o); ok {
					if _, err := c.GetRequestMetadata(ctx, uri); err != nil {
						return err
					}
				}
			}
			return nil
		}
		b.ReportAllocs()
		for b.Loop() {
			if err := intercept(ctx, "/grpc.testing.TestService/UnaryCall", nil, nil, nil, invoker); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("oauth-TokenSource", func(b *testing.B) {
		var creds credentials.PerRPCCredentials = oauth.TokenSource{TokenSource: src}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := creds.GetRequestMetadata(ctx, uri); err != nil {
				b.Fatal(err)
			}
		}
	})
}
