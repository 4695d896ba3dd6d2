package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/login"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// browserLogin is the Login of the demo's Sources: login.Browser, with a
// scripted browser in place of the system's (see scriptedBrowser).
func browserLogin(conf *oauth2.Config) tokensource.LoginFunc {
	return login.Browser(conf, &login.BrowserOptions{Open: scriptedBrowser})
}

// scriptedBrowser opens the authorization URL as a user's browser would:
// the server's scripted user approves at once, and the browser follows the
// redirect to the login's loopback address, with the code.
func scriptedBrowser(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the browser landed on %s", resp.Status)
	}
	return nil
}

// childConf is the client of the second process, on the server at base.
func childConf(base string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     tokensourcetest.DefaultClientID,
		ClientSecret: tokensourcetest.DefaultClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   base + "/authorize",
			TokenURL:  base + "/token",
			AuthStyle: oauth2.AuthStyleInHeader,
		},
	}
}

// logIn is phase 0: the store is empty, and this process and a second one
// start at once, each with a Source whose Login is browserLogin. One of
// them opens the browser; the other waits for the store's lock and adopts
// the token saved under it.
func (d *demo) logIn() bool {
	d.out.event("phase 0: the store is empty; this process and a second one start at once, each with Login: login.Browser")
	ch, err := startChild(d.childConfig("login"), d.stderr)
	if err != nil {
		d.problem("%v", err)
		return false
	}
	src := d.newSource("login", browserLogin(d.srv.Config()))
	_, err = src.Token()
	src.Wait(context.Background())
	if err != nil {
		ch.stop()
		d.problem("this process did not log in: %v", err)
		return false
	}
	res, err := ch.result(d.cfg.duration + 15*time.Second)
	if err != nil {
		d.problem("%v", err)
		return false
	}
	if len(res.Failures) > 0 {
		d.problem("the second process did not log in: %s", res.Failures[0])
		return false
	}
	st := d.srv.Stats()
	d.out.event("  logins: this process %d, the second %d; the browser opened %d time(s), the server exchanged %d code(s)",
		src.Stats().Logins, res.Stats.Logins, st.Authorizations, st.CodeExchanges)
	if st.Authorizations != 1 || st.CodeExchanges != 1 {
		d.problem("%d authorizations and %d code exchanges, want one login", st.Authorizations, st.CodeExchanges)
	}
	return true
}

// logOut ends the demo as the user's "logout" command would: Logout on the
// restarted Source revokes the newest refresh token at the server and
// leaves a tombstone in the store.
func (d *demo) logOut() {
	if d.restarted == nil {
		return
	}
	saved, err := d.store.open().Load(d.clients.tokenCtx)
	if err != nil {
		d.problem("reading %s before the log-out: %v", d.store.where, err)
		return
	}
	if err := d.restarted.Logout(context.Background()); err != nil {
		d.problem("Logout: %v", err)
		return
	}
	revoked := d.srv.Revoked(saved.RefreshToken)
	_, err = d.store.open().Load(d.clients.tokenCtx)
	tombstone := errors.Is(err, tokensource.ErrLoggedOut)
	_, err = d.restarted.Token()
	d.out.event("log out: the server confirms the refresh token revoked: %v; %s holds a tombstone: %v; the Source serves no token: %v",
		revoked, d.store.where, tombstone, errors.Is(err, tokensource.ErrReauthRequired))
	d.loggedOut = revoked && tombstone && errors.Is(err, tokensource.ErrReauthRequired)
	if !d.loggedOut {
		d.problem("the log-out did not revoke the grant, leave a tombstone, and stop the Source")
	}
}
