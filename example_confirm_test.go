package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// Code that calls Invalidate when a server rejects a token calls Confirm
// when a server accepts one, as Transport does. A token that worked and is
// then rejected was revoked: it costs one refresh. A new token rejected
// before it ever worked is a failed refresh: the Source backs off, so that
// a server that rejects every token does not cost a refresh per request.
func ExampleSource_Confirm() {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx := context.Background()
	store := tokensource.NewMemoryStore()
	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), store, nil)

	// call sends a request with a token from src, and tells src what the
	// server made of it.
	call := func() string {
		tok, err := src.TokenContext(ctx)
		var be *tokensource.BackoffError
		if errors.As(err, &be) {
			return "no token: backing off"
		} else if err != nil {
			log.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodGet, srv.ResourceURL(), nil)
		if err != nil {
			log.Fatal(err)
		}
		tok.SetAuthHeader(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			src.Invalidate(tok)
		} else {
			src.Confirm(tok)
		}
		return resp.Status
	}
	revokeCurrent := func() {
		tok, err := src.TokenContext(ctx)
		if err != nil {
			log.Fatal(err)
		}
		srv.RevokeAccessToken(tok.AccessToken)
	}

	refresh := func() {
		if _, err := src.Refresh(ctx); err != nil {
			log.Fatal(err)
		}
	}

	refresh()
	fmt.Println("new token:", call())
	revokeCurrent() // after it worked
	fmt.Println("revoked:", call())
	fmt.Println("next:", call())

	refresh()
	revokeCurrent() // before it ever worked
	fmt.Println("revoked:", call())
	fmt.Println("next:", call())
	st := src.Stats()
	fmt.Printf("refreshes %d, failed %d\n", st.Refreshes, st.RefreshErrors)
	// Output:
	// new token: 200 OK
	// revoked: 401 Unauthorized
	// next: 200 OK
	// revoked: 401 Unauthorized
	// next: no token: backing off
	// refreshes 3, failed 1
}
