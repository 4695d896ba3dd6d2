package login

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/oauthkit/tokensource"
	"golang.org/x/oauth2"
)

// BrowserOptions configure Browser. A nil *BrowserOptions, and every zero
// field, means the default described on the field.
type BrowserOptions struct {
	// Open opens the authorization URL in the user's browser. nil means
	// OpenSystemBrowser. It runs in a goroutine of its own, so that a login
	// still ends with its ctx if Open never returns. An error ends the
	// login at once: a program that can show the URL instead (over SSH, say)
	// should print it in its own Open and return nil.
	Open func(url string) error

	// Timeout bounds the wait for the browser to come back, from the moment
	// Open is called. 0 means no bound but ctx's. A Source gives its login a
	// timeout of its own already; this one is for other callers.
	Timeout time.Duration

	// SuccessHTML is the whole HTML document the browser shows when it
	// comes back with a code. "" means DefaultSuccessHTML. It is shown
	// before the code is exchanged for a token, as the browser's part is
	// done by then.
	SuccessHTML string

	// AuthCodeOptions are added to the authorization request, such as
	// oauth2.AccessTypeOffline or oauth2.SetAuthURLParam("prompt",
	// "consent"). They cannot replace the state or the PKCE challenge.
	AuthCodeOptions []oauth2.AuthCodeOption
}

// Browser returns a LoginFunc that signs the user in with their browser,
// with the authorization code flow for native apps (RFC 8252):
//
//   - It listens for the redirect on a loopback address, taken from
//     conf.RedirectURL: http://127.0.0.1 on a port the system picks when
//     RedirectURL is empty, has no port, or has port 0; the given port
//     otherwise. The host must be 127.0.0.1 or [::1], never "localhost"
//     (RFC 8252 §8.3). Authorization servers accept any port on a
//     registered loopback redirect URI (RFC 8252 §7.3).
//   - It opens the authorization URL, with a random state and a PKCE S256
//     challenge (RFC 7636), with BrowserOptions.Open.
//   - The first response that carries the state ends the wait: a code is
//     exchanged for a token with the PKCE verifier, an error (access_denied
//     when the user refused) is returned. A response with another state, a
//     stale tab or a forgery, gets an error page and is otherwise ignored:
//     the login goes on waiting for its own.
//   - It returns when ctx ends, or BrowserOptions.Timeout passes, whether or
//     not the browser ever came back. The listener is closed on every path,
//     before the code is exchanged, so the port is free again when it
//     returns.
//
// conf is not modified: the RedirectURL with the port is set on a copy. A
// nil opts means the defaults of BrowserOptions.
func Browser(conf *oauth2.Config, opts *BrowserOptions) tokensource.LoginFunc {
	var o BrowserOptions
	if opts != nil {
		o = *opts
	}
	if o.Open == nil {
		o.Open = OpenSystemBrowser
	}
	if o.SuccessHTML == "" {
		o.SuccessHTML = DefaultSuccessHTML
	}
	return func(ctx context.Context) (*oauth2.Token, error) {
		return browserLogin(ctx, conf, &o)
	}
}

// browserLogin runs one login of Browser.
func browserLogin(ctx context.Context, conf *oauth2.Config, o *BrowserOptions) (*oauth2.Token, error) {
	ln, redirect, err := listenLoopback(conf.RedirectURL)
	if err != nil {
		return nil, err
	}
	c := *conf
	c.RedirectURL = redirect.String()
	state, verifier := rand.Text(), oauth2.GenerateVerifier()
	cb := newCallback(redirect.Path, state, o.SuccessHTML)
	stop := serve(ln, cb)

	authOpts := append(o.AuthCodeOptions[:len(o.AuthCodeOptions):len(o.AuthCodeOptions)], oauth2.S256ChallengeOption(verifier))
	code, err := wait(ctx, cb, o, c.AuthCodeURL(state, authOpts...))
	stop()
	if err != nil {
		return nil, err
	}
	tok, err := c.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return nil, wrapEndpoint("exchanging the authorization code", err, code, verifier)
	}
	return tok, nil
}

// serve serves cb on ln until the returned stop is called, which closes the
// listener and every connection, and waits for the server's goroutine.
func serve(ln net.Listener, cb *callback) (stop func()) {
	srv := &http.Server{
		Handler:           cb,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // a browser's aborted preconnect is no news
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(ln) // returns ErrServerClosed after Close
	}()
	return func() {
		srv.Close()
		<-served
	}
}

// wait opens authURL and waits for the browser to come back with a code,
// for ctx to end, or for o.Timeout.
func wait(ctx context.Context, cb *callback, o *BrowserOptions, authURL string) (string, error) {
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	opened := make(chan error, 1)
	go func() { opened <- o.Open(authURL) }()
	for {
		select {
		case res := <-cb.result:
			return res.code, res.err
		case err := <-opened:
			if err != nil {
				return "", fmt.Errorf("login: opening the authorization URL: %w", err)
			}
			opened = nil // opened; wait on for the redirect
		case <-ctx.Done():
			return "", fmt.Errorf("login: the browser did not come back: %w", context.Cause(ctx))
		}
	}
}
