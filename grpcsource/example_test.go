package grpcsource_test

import (
	"context"
	"fmt"
	"log"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/grpcsource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Calls to a gRPC API with the tokens of a Source. When the API rejects a
// token before its expiry, the call is made once more with a new one.
func Example() {
	auth := tokensourcetest.NewServer(nil) // the provider
	defer auth.Close()
	api, err := newAPI(auth, false) // a gRPC API over TLS that checks tokens with auth
	if err != nil {
		log.Fatal(err)
	}
	defer api.stop()

	ctx := context.Background()
	store := tokensource.NewMemoryStore()
	if err := store.Save(ctx, auth.Login()); err != nil {
		log.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, auth.Config(), store, nil)

	conn, err := grpc.NewClient(api.addr,
		grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(api.roots, "")),
		grpc.WithUnaryInterceptor(grpcsource.UnaryClientInterceptor(src)),
		grpc.WithStreamInterceptor(grpcsource.StreamClientInterceptor(src)))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)

	resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.GetStatus())

	// The server revokes the token.
	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}
	auth.RevokeAccessToken(tok.AccessToken)
	resp, err = health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.GetStatus(), "after refreshes:", src.Stats().Refreshes)
	// Output:
	// SERVING
	// SERVING after refreshes: 1
}

// A server-streaming call whose token was revoked is opened once more with a
// new token when its first response rejects it.
func ExampleStreamClientInterceptor() {
	auth := tokensourcetest.NewServer(nil)
	defer auth.Close()
	api, err := newAPI(auth, false)
	if err != nil {
		log.Fatal(err)
	}
	defer api.stop()

	src, err := loggedIn(auth, nil) // as in the package example
	if err != nil {
		log.Fatal(err)
	}
	conn, err := grpc.NewClient(api.addr,
		grpc.WithTransportCredentials(credentials.NewClientTLSFromCert(api.roots, "")),
		grpc.WithStreamInterceptor(grpcsource.StreamClientInterceptor(src)))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}
	auth.RevokeAccessToken(tok.AccessToken)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends the stream
	watch, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := watch.Recv()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.GetStatus(), "after refreshes:", src.Stats().Refreshes)
	// Output:
	// SERVING after refreshes: 1
}
