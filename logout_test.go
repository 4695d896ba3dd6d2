package tokensource_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// loRevocations is an http.RoundTripper that records the token of every
// request to a revocation endpoint (a path ending in /revoke), by its
// token_type_hint, and passes every request on to http.DefaultTransport.
type loRevocations struct {
	mu      sync.Mutex
	refresh []string // tokens sent with the hint refresh_token, in order
	access  []string // with the hint access_token
}

func (r *loRevocations) RoundTrip(req *http.Request) (*http.Response, error) {
	if strings.HasSuffix(req.URL.Path, "/revoke") && req.Body != nil {
		body, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		form, _ := url.ParseQuery(string(body))
		r.mu.Lock()
		switch form.Get("token_type_hint") {
		case "refresh_token":
			r.refresh = append(r.refresh, form.Get("token"))
		case "access_token":
			r.access = append(r.access, form.Get("token"))
		}
		r.mu.Unlock()
		req = req.Clone(req.Context())
		req.Body = io.NopCloser(bytes.NewReader(body))
		req.ContentLength = int64(len(body))
	}
	return http.DefaultTransport.RoundTrip(req)
}

// revoked returns the refresh and access tokens sent for revocation.
func (r *loRevocations) revoked() (refresh, access []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.refresh), slices.Clone(r.access)
}

// loSource is lfSource with revocations through rec, at srv's revocation
// endpoint unless opts says otherwise.
func loSource(t *testing.T, srv *tokensourcetest.Server, store tokensource.Store, rec *loRevocations, opts *tokensource.Options) *tokensource.Source {
	t.Helper()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: rec})
	return lfSourceCtx(t, ctx, srv, store, opts)
}

// loLogout calls s.Logout, bounded.
func loLogout(t *testing.T, s *tokensource.Source) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), lfWait)
	defer cancel()
	err := s.Logout(ctx)
	if ctx.Err() != nil {
		t.Fatalf("Logout still running after %v: %v", lfWait, err)
	}
	return err
}

// loLoggedOut fails t unless the token file at path is a tombstone, read
// through a FileStore as another process would.
func loLoggedOut(t *testing.T, path string) {
	t.Helper()
	tok, err := tokensource.NewFileStore(path).Load(lfCtx(t))
	if !errors.Is(err, tokensource.ErrLoggedOut) || !errors.Is(err, tokensource.ErrNotFound) {
		t.Errorf("Load of the file: got a token %v, error %v; want an error wrapping ErrLoggedOut and ErrNotFound", tok != nil, err)
	}
	if rec := lfRecord(t, path); !rec.LoggedOut || rec.Token != nil {
		t.Errorf("the file holds %s; want a tombstone", lfDescribe(rec))
	}
}

// loNoToken fails t unless s serves no token: TokenContext returns an
// error wrapping ErrReauthRequired and ErrLoggedOut, three times in a row.
func loNoToken(t *testing.T, s *tokensource.Source) {
	t.Helper()
	for i := range 3 {
		if tok, err := lfToken(t, s); !isReauth(err, tokensource.ErrLoggedOut) {
			t.Fatalf("call %d after the log-out: got a token %v, error %v; want ErrReauthRequired and ErrLoggedOut", i, tok != nil, err)
		}
	}
}

// TestLogoutRevokesAndTombstones: Logout revokes the refresh token, then
// the access token, at the revocation endpoint; the file becomes a
// tombstone; and the Source stops serving its token at once, though it is
// valid for an hour yet.
func TestLogoutRevokesAndTombstones(t *testing.T) {
	srv := lfServer(t, nil)
	tok0 := srv.Login()
	path := lfSave(t, tok0)
	rec := &loRevocations{}
	src := loSource(t, srv, tokensource.NewFileStore(path), rec, &tokensource.Options{RevocationURL: srv.RevocationURL()})
	if tok := lfMustToken(t, src); tok.AccessToken != tok0.AccessToken {
		t.Fatal("the Source does not serve the stored token")
	}

	if err := loLogout(t, src); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if !srv.Revoked(tok0.RefreshToken) || !srv.Revoked(tok0.AccessToken) {
		t.Errorf("the server has the refresh token revoked: %v, the access token: %v; want both", srv.Revoked(tok0.RefreshToken), srv.Revoked(tok0.AccessToken))
	}
	refresh, access := rec.revoked()
	if !slices.Equal(refresh, []string{tok0.RefreshToken}) || !slices.Equal(access, []string{tok0.AccessToken}) {
		t.Errorf("revoked %d refresh tokens and %d access tokens; want the stored ones, once each", len(refresh), len(access))
	}
	if st := srv.Stats(); st.Revocations != 2 || st.TokenRequests != 0 {
		t.Errorf("server stats %+v; want 2 revocations and no token request", st)
	}
	loLoggedOut(t, path)
	loNoToken(t, src)
	if code := lfStatus(t, srv, tok0.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("the resource responds %d to the revoked access token, want 401", code)
	}
	if st := srv.Stats(); st.TokenRequests != 0 {
		t.Errorf("the Source sent %d token requests after the log-out, want 0", st.TokenRequests)
	}
}

// TestLogoutNoResurrection: another Source on the file (another process)
// holds the token Logout revoked. When it next loads the file, because
// its token expired or because it refreshes ahead, it finds the tombstone:
// it serves the token no longer, sends no token request, and never writes
// the grant back.
func TestLogoutNoResurrection(t *testing.T) {
	for _, tc := range []struct {
		name    string
		advance time.Duration // how far the clock goes after the log-out
	}{
		{"expired", 2 * time.Hour},
		{"refresh ahead", time.Hour - 30*time.Second}, // stale: served while a refresh runs in the background
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := tokensourcetest.NewClock(lfEpoch)
			srv := lfServer(t, &tokensourcetest.Options{Now: clock.Now})
			tok0 := srv.Login()
			path := lfSave(t, tok0)
			a := loSource(t, srv, tokensource.NewFileStore(path), &loRevocations{}, &tokensource.Options{Now: clock.Now, RevocationURL: srv.RevocationURL()})
			b := lfSource(t, srv, tokensource.NewFileStore(path), &tokensource.Options{Now: clock.Now})
			for _, s := range []*tokensource.Source{a, b} {
				if tok := lfMustToken(t, s); tok.AccessToken != tok0.AccessToken {
					t.Fatal("a Source does not serve the stored token")
				}
			}
			if err := loLogout(t, a); err != nil {
				t.Fatalf("Logout: %v", err)
			}
			before := srv.Stats()

			clock.Advance(tc.advance)
			tok, err := lfToken(t, b)
			if err == nil {
				// Still valid, in the refresh-ahead window: B had no reason
				// to load the file before. Its background refresh does.
				if tok.AccessToken != tok0.AccessToken {
					t.Fatal("B serves another token than the one it held")
				}
				wctx, cancel := context.WithTimeout(context.Background(), lfWait)
				defer cancel()
				if err := b.Wait(wctx); err != nil {
					t.Fatal(err)
				}
			} else if !isReauth(err, tokensource.ErrLoggedOut) {
				t.Fatalf("B: %v; want ErrReauthRequired and ErrLoggedOut", err)
			}
			loNoToken(t, b)
			if tok, err := b.Refresh(lfCtx(t)); !isReauth(err, tokensource.ErrLoggedOut) {
				t.Fatalf("B.Refresh: got a token %v, error %v; want ErrReauthRequired and ErrLoggedOut", tok != nil, err)
			}
			clock.Advance(2 * time.Hour)
			loNoToken(t, b)
			loLoggedOut(t, path)
			if after := srv.Stats(); after.TokenRequests != before.TokenRequests {
				t.Errorf("B sent %d token requests after the log-out, want 0", after.TokenRequests-before.TokenRequests)
			}
		})
	}
}

// TestLogoutRevokesNewestRefreshToken: another Source rotated the refresh
// token after this one last loaded the file; Logout revokes the rotated
// one, read from the file, not the one this Source holds.
func TestLogoutRevokesNewestRefreshToken(t *testing.T) {
	clock := tokensourcetest.NewClock(lfEpoch)
	srv := lfServer(t, &tokensourcetest.Options{Now: clock.Now})
	tok0 := srv.Login()
	path := lfSave(t, tok0)
	rec := &loRevocations{}
	a := loSource(t, srv, tokensource.NewFileStore(path), rec, &tokensource.Options{Now: clock.Now, RevocationURL: srv.RevocationURL()})
	b := lfSource(t, srv, tokensource.NewFileStore(path), &tokensource.Options{Now: clock.Now})
	lfMustToken(t, a)
	lfMustToken(t, b)

	clock.Advance(2 * time.Hour)
	tok1 := lfMustToken(t, b)
	if tok1.RefreshToken == tok0.RefreshToken || tok1.AccessToken == tok0.AccessToken {
		t.Fatal("B did not rotate the grant")
	}

	if err := loLogout(t, a); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	refresh, access := rec.revoked()
	if !slices.Equal(refresh, []string{tok1.RefreshToken}) {
		t.Errorf("revoked refresh tokens: rotated one %v, stale one %v, %d in all; want the rotated one alone",
			slices.Contains(refresh, tok1.RefreshToken), slices.Contains(refresh, tok0.RefreshToken), len(refresh))
	}
	if !slices.Equal(access, []string{tok1.AccessToken}) {
		t.Errorf("revoked %d access tokens; want B's, the one in the file", len(access))
	}
	if !srv.Revoked(tok1.RefreshToken) {
		t.Error("the server has the rotated refresh token not revoked")
	}
	if code := lfStatus(t, srv, tok1.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("the resource responds %d to B's access token, want 401", code)
	}
	loLoggedOut(t, path)
	loNoToken(t, a)
	clock.Advance(2 * time.Hour)
	loNoToken(t, b)
	loLoggedOut(t, path)
}

// TestLogoutRevocationDown: with the revocation endpoint down, Logout
// still logs out here, and says that the server was not told, quoting no
// token.
func TestLogoutRevocationDown(t *testing.T) {
	srv := lfServer(t, nil)
	tok0 := srv.Login()
	path := lfSave(t, tok0)
	src := loSource(t, srv, tokensource.NewFileStore(path), &loRevocations{}, &tokensource.Options{RevocationURL: srv.RevocationURL()})
	lfMustToken(t, src)
	srv.SetRevocationUnavailable(true)

	err := loLogout(t, src)
	if err == nil {
		t.Fatal("Logout = nil; want an error saying the server was not told")
	}
	msg := err.Error()
	if !strings.Contains(msg, "not told") {
		t.Errorf("Logout: %q; want it to say the server was not told", msg)
	}
	for name, secret := range map[string]string{
		"the access token": tok0.AccessToken, "the refresh token": tok0.RefreshToken,
		"the client secret": tokensourcetest.DefaultClientSecret,
	} {
		if strings.Contains(msg, secret) {
			t.Errorf("Logout's error quotes %s: %q", name, msg)
		}
	}
	if st := srv.Stats(); st.RevocationRequests == 0 || st.Revocations != 0 {
		t.Errorf("server stats %+v; want revocation requests, none of which revoked", st)
	}
	if srv.Revoked(tok0.RefreshToken) {
		t.Error("the server has the refresh token revoked, though it was down")
	}
	loLoggedOut(t, path)
	loNoToken(t, src)
}

// TestLogoutWithoutRevocationURL: with no RevocationURL, Logout only logs
// out here, and returns nil; the server still takes the tokens.
func TestLogoutWithoutRevocationURL(t *testing.T) {
	srv := lfServer(t, nil)
	tok0 := srv.Login()
	path := lfSave(t, tok0)
	src := lfSource(t, srv, tokensource.NewFileStore(path), nil)
	lfMustToken(t, src)
	if err := loLogout(t, src); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if st := srv.Stats(); st.RevocationRequests != 0 {
		t.Errorf("%d revocation requests, want 0", st.RevocationRequests)
	}
	if srv.Revoked(tok0.RefreshToken) {
		t.Error("the refresh token is revoked")
	}
	loLoggedOut(t, path)
	loNoToken(t, src)
	if code := lfStatus(t, srv, tok0.AccessToken); code != http.StatusOK {
		t.Errorf("the resource responds %d to the access token, want 200: nobody told the server", code)
	}
}

// TestLogoutThenLoginAgain: a Source with Login that logged out logs in
// again at its next use, once, and serves the new grant, never the old.
func TestLogoutThenLoginAgain(t *testing.T) {
	srv := lfServer(t, nil)
	path := lfSave(t, srv.Login()) // a grant from before: the Source adopts it
	login := lfServerLogin(t, srv)
	src := loSource(t, srv, tokensource.NewFileStore(path), &loRevocations{}, &tokensource.Options{Login: login.login, RevocationURL: srv.RevocationURL()})
	tok0 := lfMustToken(t, src)
	if n := login.calls.Load(); n != 0 {
		t.Fatalf("LoginFunc called %d times with a grant stored, want 0", n)
	}
	if err := loLogout(t, src); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if !srv.Revoked(tok0.RefreshToken) {
		t.Error("the refresh token is not revoked")
	}

	tok1 := lfMustToken(t, src)
	if n := login.calls.Load(); n != 1 {
		t.Fatalf("LoginFunc called %d times after the log-out, want 1", n)
	}
	if tok1.AccessToken == tok0.AccessToken || tok1.AccessToken != login.lastIssued().AccessToken {
		t.Error("the Source does not serve the new login's token")
	}
	if st := src.Stats(); st.Logins != 1 {
		t.Errorf("Stats.Logins = %d, want 1", st.Logins)
	}
	if rec := lfRecord(t, path); rec.LoggedOut || rec.Token == nil || rec.Token.AccessToken != tok1.AccessToken {
		t.Errorf("the file holds %s; want the new login", lfDescribe(rec))
	}
	if code := lfStatus(t, srv, tok1.AccessToken); code != http.StatusOK {
		t.Errorf("the resource responds %d to the new token, want 200", code)
	}
	if code := lfStatus(t, srv, tok0.AccessToken); code != http.StatusUnauthorized {
		t.Errorf("the resource responds %d to the logged-out token, want 401", code)
	}
	if tok := lfMustToken(t, src); tok.AccessToken != tok1.AccessToken || login.calls.Load() != 1 {
		t.Errorf("the next use logged in again (%d calls), or serves another token", login.calls.Load())
	}
}

// TestLogoutRacingFlight: Logout is called while a refresh, or a login,
// holds the Source's turn and the file's lock. It waits for it; the token
// it got is the one revoked; and after Logout returns nothing serves it:
// its caller got it before, or an error wrapping ErrReauthRequired.
func TestLogoutRacingFlight(t *testing.T) {
	t.Run("refresh of this Source", func(t *testing.T) {
		srv := lfServer(t, nil)
		tok0 := srv.Login()
		tok0.Expiry = time.Now().Add(-time.Minute) // the next use refreshes
		path := lfSave(t, tok0)
		sent := make(chan struct{}, 1)
		rec := &loRevocations{}
		src := loSource(t, srv, tokensource.NewFileStore(path), rec, &tokensource.Options{
			RevocationURL: srv.RevocationURL(),
			Hooks:         &tokensource.Hooks{TokenRequest: func(context.Context) { loSignal(sent) }},
		})
		srv.SetLatency(300 * time.Millisecond)
		res := lfTokenAsync(t, src)
		lfRecv(t, sent, "the token request")

		if err := loLogout(t, src); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		loNoToken(t, src)
		loLoggedOut(t, path)
		r := lfRecv(t, res, "the refresh's caller")
		refresh, _ := rec.revoked()
		if len(refresh) != 1 || refresh[0] == tok0.RefreshToken || !srv.Revoked(refresh[0]) {
			t.Fatalf("revoked %d refresh tokens, the refreshed one: %v; want the refreshed one alone", len(refresh), len(refresh) == 1 && refresh[0] != tok0.RefreshToken)
		}
		switch {
		case r.err == nil:
			// It got the token before the log-out: the one revoked.
			if r.tok.RefreshToken != refresh[0] {
				t.Error("Logout revoked another refresh token than the refresh got")
			}
			if code := lfStatus(t, srv, r.tok.AccessToken); code != http.StatusUnauthorized {
				t.Errorf("the resource responds %d to the refreshed token, want 401", code)
			}
		case !isReauth(r.err):
			t.Errorf("the refresh's caller: %v; want its token or ErrReauthRequired", r.err)
		}
		if st := srv.Stats(); st.Refreshes != 1 {
			t.Errorf("the server saw %d refreshes, want 1", st.Refreshes)
		}
	})

	t.Run("refresh of another Source", func(t *testing.T) {
		srv := lfServer(t, nil)
		tok0 := srv.Login()
		tok0.Expiry = time.Now().Add(-time.Minute)
		path := lfSave(t, tok0)
		sent := make(chan struct{}, 1)
		rec := &loRevocations{}
		a := loSource(t, srv, tokensource.NewFileStore(path), rec, &tokensource.Options{RevocationURL: srv.RevocationURL()})
		b := lfSource(t, srv, tokensource.NewFileStore(path), &tokensource.Options{
			Hooks: &tokensource.Hooks{TokenRequest: func(context.Context) { loSignal(sent) }},
		})
		srv.SetLatency(300 * time.Millisecond)
		res := lfTokenAsync(t, b)
		lfRecv(t, sent, "B's token request")

		// A waits for the lock B holds, then revokes what B saved.
		if err := loLogout(t, a); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		r := lfRecv(t, res, "B's token")
		if r.err != nil {
			t.Fatalf("B: %v; its refresh ended before the log-out", r.err)
		}
		refresh, access := rec.revoked()
		if !slices.Equal(refresh, []string{r.tok.RefreshToken}) || !slices.Equal(access, []string{r.tok.AccessToken}) {
			t.Errorf("revoked %d refresh and %d access tokens; want B's new ones, once each", len(refresh), len(access))
		}
		if !srv.Revoked(r.tok.RefreshToken) {
			t.Error("B's refresh token is not revoked")
		}
		loLoggedOut(t, path)
		// B finds the tombstone at its next load, and writes nothing back.
		if tok, err := b.Refresh(lfCtx(t)); !isReauth(err, tokensource.ErrLoggedOut) {
			t.Fatalf("B.Refresh: got a token %v, error %v; want ErrReauthRequired and ErrLoggedOut", tok != nil, err)
		}
		loNoToken(t, b)
		loNoToken(t, a)
		loLoggedOut(t, path)
		if st := srv.Stats(); st.Refreshes != 1 {
			t.Errorf("the server saw %d refreshes, want 1", st.Refreshes)
		}
	})

	t.Run("login of this Source", func(t *testing.T) {
		srv := lfServer(t, nil)
		path := lfSave(t, &oauth2.Token{AccessToken: "at_x", RefreshToken: "rt_x"})
		if err := tokensource.NewFileStore(path).Delete(lfCtx(t)); err != nil {
			t.Fatal(err)
		}
		login := lfServerLogin(t, srv).held()
		rec := &loRevocations{}
		src := loSource(t, srv, tokensource.NewFileStore(path), rec, &tokensource.Options{Login: login.login, RevocationURL: srv.RevocationURL()})
		res := lfTokenAsync(t, src)
		lfRecv(t, login.entered, "the login")

		// The login holds the turn: Logout waits for it.
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), lfWait)
			defer cancel()
			done <- src.Logout(ctx)
		}()
		close(login.release)
		if err := lfRecv(t, done, "Logout"); err != nil {
			t.Fatalf("Logout: %v", err)
		}
		loLoggedOut(t, path)
		l1 := login.lastIssued()
		if l1 == nil || !srv.Revoked(l1.RefreshToken) {
			t.Fatal("the login's refresh token is not revoked")
		}
		if refresh, _ := rec.revoked(); !slices.Equal(refresh, []string{l1.RefreshToken}) {
			t.Errorf("revoked %d refresh tokens; want the login's alone", len(refresh))
		}
		r := lfRecv(t, res, "the login's caller")
		switch {
		case r.err == nil && r.tok.AccessToken != l1.AccessToken:
			t.Error("the login's caller got another token than the login's")
		case r.err != nil && !isReauth(r.err):
			t.Errorf("the login's caller: %v; want its token or ErrReauthRequired", r.err)
		}
		// With Login, the next use logs in again: a new grant, not l1.
		tok := lfMustToken(t, src)
		if tok.AccessToken == l1.AccessToken || login.calls.Load() != 2 {
			t.Errorf("after the log-out: %d LoginFunc calls; want 2, and a new token", login.calls.Load())
		}
	})
}

// loSignal sends on ch, a channel with a buffer, unless it is full.
func loSignal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
