package login_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"time"

	"github.com/oauthkit/tokensource/login"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// A browser login against the test server, whose scripted user approves at
// once. Open stands in for the user's browser: it follows the authorization
// URL to the loopback redirect. A real program leaves Open nil.
func ExampleBrowser() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()

	// The login returns once the code is in, which may be before Open
	// has read the page: the page's status is printed after it.
	shown := make(chan string, 1)
	browser := func(authURL string) error {
		resp, err := http.Get(authURL) // authorize, approve, redirect to 127.0.0.1
		if err != nil {
			return err
		}
		shown <- resp.Status
		return resp.Body.Close()
	}
	signIn := login.Browser(srv.Config(), &login.BrowserOptions{Open: browser})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tok, err := signIn(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("the browser shows:", <-shown)
	fmt.Println("refresh token:", tok.RefreshToken != "")
	fmt.Println("codes exchanged with PKCE:", srv.Stats().CodeExchanges)
	// Output:
	// the browser shows: 200 OK
	// refresh token: true
	// codes exchanged with PKCE: 1
}

// A device login: the prompt shows the user where to go and what to enter,
// and here the test server's user approves the code at once.
func ExampleDevice() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()

	prompt := func(ctx context.Context, da *oauth2.DeviceAuthResponse) error {
		fmt.Println("open", da.VerificationURI[len(srv.URL):], "and enter a code of", len(da.UserCode), "characters")
		return srv.ApproveDevice(da.UserCode) // the user, on their phone
	}
	signIn := login.Device(srv.Config(), prompt)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tok, err := signIn(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refresh token:", tok.RefreshToken != "")
	// Output:
	// open /device and enter a code of 9 characters
	// refresh token: true
}
