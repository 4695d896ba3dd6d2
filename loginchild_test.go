package tokensource_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// lfChildSpec is what a child process of the login tests, TestLoginChild
// (this test binary run again), does.
type lfChildSpec struct {
	Mode     string        // "once" or "fail"
	File     string        // the token file
	URL      string        // the test server's URL
	Now      time.Time     // "fail": the child's clock, standing still
	Cooldown time.Duration // "fail": Options.LoginCooldown
}

// lfReadyLine is what a child prints on its standard output once its
// Source is made; then it waits for a line on its standard input before
// calling TokenContext, and replies its lfChildReport when it is done.
const lfReadyLine = "LOGINCHILD READY"

// lfChildReport is what a child did.
type lfChildReport struct {
	Calls    int64             // calls of its LoginFunc
	Stats    tokensource.Stats // its Source's
	Access   string            // tokensource.Fingerprint of the access token it got; "" on error
	Err      string            // the error TokenContext returned; "" for none
	Reauth   bool              // the error wraps ErrReauthRequired
	LoginErr bool              // the error wraps its LoginFunc's error
}

// TestLoginChild is the child process of TestLoginOnceAcrossProcesses
// (mode "once": a LoginFunc taking 300ms that logs in with the password
// grant) and TestLoginCooldownAcrossProcesses (mode "fail": a LoginFunc
// that fails, on a clock standing still). Its Source shares the parent's
// token file; it calls TokenContext once, when the parent says go, and
// reports.
func TestLoginChild(t *testing.T) {
	var spec lfChildSpec
	if !storetest.ChildSpec(t, &spec) {
		t.Skip("runs only as a child process of the login tests")
	}
	conf := &oauth2.Config{
		ClientID:     tokensourcetest.DefaultClientID,
		ClientSecret: tokensourcetest.DefaultClientSecret,
		Endpoint:     oauth2.Endpoint{TokenURL: spec.URL + "/token", AuthStyle: oauth2.AuthStyleInHeader},
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tr})

	var calls atomic.Int64
	errClosed := errors.New("the user closed the login tab")
	opts := &tokensource.Options{}
	switch spec.Mode {
	case "once":
		opts.Login = func(lctx context.Context) (*oauth2.Token, error) {
			calls.Add(1)
			timer := time.NewTimer(300 * time.Millisecond) // the user, clicking
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-lctx.Done():
				return nil, lctx.Err()
			}
			// lctx carries the caller's values: the HTTP client too.
			return conf.PasswordCredentialsToken(lctx, tokensourcetest.Username, tokensourcetest.Password)
		}
	case "fail":
		opts.Now = func() time.Time { return spec.Now }
		opts.LoginCooldown = spec.Cooldown
		opts.Login = func(context.Context) (*oauth2.Token, error) {
			calls.Add(1)
			return nil, errClosed
		}
	default:
		t.Fatalf("unknown mode %q", spec.Mode)
	}
	src := tokensource.FromConfig(ctx, conf, tokensource.NewFileStore(spec.File), opts)

	fmt.Println(lfReadyLine)
	read := make(chan error, 1)
	go func() {
		_, err := bufio.NewReader(os.Stdin).ReadString('\n')
		read <- err
	}()
	select {
	case err := <-read:
		if err != nil {
			t.Fatalf("waiting for the parent's go: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the parent never said go")
	}

	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tok, err := src.TokenContext(tctx)
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := src.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	rep := lfChildReport{Calls: calls.Load(), Stats: src.Stats()}
	if err != nil {
		rep.Err = err.Error()
		rep.Reauth = errors.Is(err, tokensource.ErrReauthRequired)
		rep.LoginErr = errors.Is(err, errClosed)
	} else {
		rep.Access = tokensource.Fingerprint(tok.AccessToken)
	}
	storetest.Reply(t, rep)
}

// lfStartChild starts TestLoginChild with spec, and waits, bounded, for
// its ready line. It is killed, if still running, when t ends.
func lfStartChild(t *testing.T, spec lfChildSpec) *storetest.Child {
	t.Helper()
	c := storetest.StartChild(t, "TestLoginChild", spec, nil)
	c.Await(t, lfReadyLine)
	return c
}
