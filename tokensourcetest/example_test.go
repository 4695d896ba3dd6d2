package tokensourcetest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// A client holding an expired token refreshes it at the server's token
// endpoint before calling the protected resource.
func Example() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()

	// A token pair as if the user had just logged in; pretend it has
	// expired, so that the client must refresh it.
	tok := srv.Login()
	tok.Expiry = time.Now().Add(-time.Minute)

	client := srv.Config().Client(context.Background(), tok)
	resp, err := client.Get(srv.ResourceURL())
	if err != nil {
		log.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(resp.Status, " ", string(body))

	st := srv.Stats()
	fmt.Printf("refreshes: %d, access tokens issued: %d\n", st.Refreshes, st.Issued)
	// Output:
	// 200 OK {"ok":true,"subject":"user"}
	// refreshes: 1, access tokens issued: 2
}

// A driven clock makes an access token expire without waiting for it.
func ExampleClock() {
	clock := tokensourcetest.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{
		Now:                 clock.Now,
		AccessTokenLifetime: 5 * time.Minute,
	})
	defer srv.Close()

	tok := srv.Login()
	fmt.Println("expires at", tok.Expiry.Format(time.Kitchen))

	call := func() {
		req, _ := http.NewRequest(http.MethodGet, srv.ResourceURL(), nil)
		tok.SetAuthHeader(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		if c := resp.Header.Get("WWW-Authenticate"); c != "" {
			fmt.Println(resp.StatusCode, c)
		} else {
			fmt.Println(resp.StatusCode)
		}
	}
	call()
	clock.Advance(5 * time.Minute)
	call()
	// Output:
	// expires at 12:05PM
	// 200
	// 401 Bearer realm="tokensourcetest", error="invalid_token", error_description="the access token expired"
}

// A refresh response lost on the way makes the client's retry look like
// refresh-token reuse, and the server revokes the family.
func ExampleServer_FailNext() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx := context.Background()
	conf := srv.Config()
	stale := &oauth2.Token{RefreshToken: srv.Login().RefreshToken}

	srv.FailNext(1, tokensourcetest.FaultLoseResponse)
	_, err := conf.TokenSource(ctx, stale).Token()
	fmt.Println("first refresh failed:", err != nil)

	_, err = conf.TokenSource(ctx, stale).Token()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		fmt.Println("retry:", re.ErrorCode)
	}
	fmt.Println("reuse detected:", srv.Stats().ReuseDetected)
	// Output:
	// first refresh failed: true
	// retry: invalid_grant
	// reuse detected: 1
}

// A log-out that revokes the grant at the server (RFC 7009): the refresh
// token, and the access tokens issued with it, stop working.
func ExampleServer_Revoked() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	tok := srv.Login()

	form := url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}}
	req, _ := http.NewRequest(http.MethodPost, srv.RevocationURL(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(tokensourcetest.DefaultClientID, tokensourcetest.DefaultClientSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println("revocation endpoint:", resp.Status)
	fmt.Println("refresh token revoked:", srv.Revoked(tok.RefreshToken))
	fmt.Println("access token revoked:", srv.Revoked(tok.AccessToken))
	// Output:
	// revocation endpoint: 200 OK
	// refresh token revoked: true
	// access token revoked: true
}

// The device flow's user, scripted: ApproveDevice is what they do after
// entering the code on their phone.
func ExampleServer_ApproveDevice() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx := context.Background()
	conf := srv.Config()

	da, err := conf.DeviceAuth(ctx)
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.ApproveDevice(da.UserCode); err != nil {
		log.Fatal(err)
	}
	tok, err := conf.DeviceAccessToken(ctx, da) // polls after the 1 s interval
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("refresh token:", tok.RefreshToken != "")
	fmt.Println("polls:", srv.Stats().DevicePolls)
	// Output:
	// refresh token: true
	// polls: 1
}
