package examples_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/login"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// The endpoints of an issuer, from its metadata document, read by
// coreos/go-oidc rather than by hand: the authorization and token endpoints
// (Endpoint), and the device authorization and revocation endpoints among
// its claims, for login.Device and Logout.
func Example_discovery() {
	srv := tokensourcetest.NewServer(nil) // stands in for https://accounts.example.com
	defer srv.Close()
	ctx := context.Background()

	provider, err := oidc.NewProvider(ctx, srv.URL) // GET /.well-known/openid-configuration
	if err != nil {
		log.Fatal(err)
	}
	var claims struct {
		Revocation string `json:"revocation_endpoint"`
		Device     string `json:"device_authorization_endpoint"`
	}
	if err := provider.Claims(&claims); err != nil {
		log.Fatal(err)
	}
	endpoint := provider.Endpoint()
	endpoint.DeviceAuthURL = claims.Device
	conf := &oauth2.Config{ClientID: tokensourcetest.DefaultClientID, ClientSecret: tokensourcetest.DefaultClientSecret, Endpoint: endpoint}

	src := tokensource.FromConfig(ctx, conf, tokensource.NewMemoryStore(), &tokensource.Options{
		Login:         login.Browser(conf, &login.BrowserOptions{Open: scriptedBrowser}),
		RevocationURL: claims.Revocation,
	})
	resp, err := tokensource.NewClient(ctx, src).Get(srv.ResourceURL())
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.Status)
	tok, err := src.Token()
	if err != nil {
		log.Fatal(err)
	}
	if err := src.Logout(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("revoked:", srv.Revoked(tok.RefreshToken))
	// Output:
	// 200 OK
	// revoked: true
}

// scriptedBrowser stands in for the user's browser: it follows the
// authorization URL, through the test server's scripted approval, to the
// login's loopback redirect.
func scriptedBrowser(authURL string) error {
	resp, err := http.Get(authURL)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
