package examples_test

import (
	"context"
	"fmt"
	"log"

	"cloud.google.com/go/auth/httptransport"
	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"google.golang.org/api/option"
	"google.golang.org/api/tasks/v1"
)

// A google.golang.org/api client with tokensource.NewClient as its HTTP
// client: a token the API rejects is invalidated, and the request is sent
// once more with a new one. (With option.WithTokenSource(src), the client
// would keep the token in a cache of its own, and send it until it
// expired.)
func Example_googleAPI() {
	// The provider; its protected resource stands for the API, responding
	// every path below /resource.
	auth := tokensourcetest.NewServer(nil)
	defer auth.Close()
	src, err := loggedIn(auth)
	if err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	svc, err := tasks.NewService(ctx,
		option.WithHTTPClient(tokensource.NewClient(ctx, src)),
		option.WithEndpoint(auth.ResourceURL()+"/"))
	if err != nil {
		log.Fatal(err)
	}
	lists, err := svc.Tasklists.List().Do()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(lists.HTTPStatusCode)

	if err := revoke(auth, src); err != nil {
		log.Fatal(err)
	}
	lists, err = svc.Tasklists.List().Do()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(lists.HTTPStatusCode, "after refreshes:", src.Stats().Refreshes)
	// Output:
	// 200
	// 200 after refreshes: 1
}

// A cloud.google.com/go/auth client whose requests go through a
// tokensource.Transport. The library's own authentication is off: it would
// keep the token in a cache of its own, out of the Source's reach, and set
// the Authorization header, which the Transport leaves alone.
func Example_cloudAuth() {
	auth := tokensourcetest.NewServer(nil)
	defer auth.Close()
	src, err := loggedIn(auth)
	if err != nil {
		log.Fatal(err)
	}

	client, err := httptransport.NewClient(&httptransport.Options{
		DisableAuthentication: true,
		BaseRoundTripper:      &tokensource.Transport{Source: src},
	})
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.Get(auth.ResourceURL())
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)

	if err := revoke(auth, src); err != nil {
		log.Fatal(err)
	}
	resp, err = client.Get(auth.ResourceURL())
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status, "after refreshes:", src.Stats().Refreshes)
	// Output:
	// 200 OK
	// 200 OK after refreshes: 1
}
