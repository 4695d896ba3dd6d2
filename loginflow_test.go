package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// lfWait bounds every wait for something that should happen at once: it
// only catches a hang.
const lfWait = 10 * time.Second

// lfEpoch is where the clocks of the login tests start.
var lfEpoch = time.Date(2030, 3, 4, 5, 6, 7, 0, time.UTC)

// lfServer starts a test server, closed when t ends, after the Sources'
// cleanups.
func lfServer(t *testing.T, opts *tokensourcetest.Options) *tokensourcetest.Server {
	t.Helper()
	srv := tokensourcetest.NewServer(opts)
	t.Cleanup(srv.Close)
	return srv
}

// lfSource returns a Source of srv's client on store, made as a program
// makes it; when t ends, no refresh or login of it runs any more.
func lfSource(t *testing.T, srv *tokensourcetest.Server, store tokensource.Store, opts *tokensource.Options) *tokensource.Source {
	t.Helper()
	return lfSourceCtx(t, context.Background(), srv, store, opts)
}

// lfSourceCtx is lfSource with the ctx FromConfig gets: its HTTP client.
func lfSourceCtx(t *testing.T, ctx context.Context, srv *tokensourcetest.Server, store tokensource.Store, opts *tokensource.Options) *tokensource.Source {
	t.Helper()
	src := tokensource.FromConfig(ctx, srv.Config(), store, opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), lfWait)
		defer cancel()
		if err := src.Wait(ctx); err != nil {
			t.Errorf("a refresh or login still runs after the test: %v", err)
		}
	})
	return src
}

// lfLogin is a LoginFunc that counts its calls, can report them and be
// held until released, and returns what fn does. Whatever holds it ends
// with the test (t.Context), so that no login outlives it.
type lfLogin struct {
	calls   atomic.Int64
	delay   time.Duration                                             // each call takes this long, at least
	entered chan context.Context                                      // if not nil, gets each call's ctx as it starts
	release chan struct{}                                             // if not nil, each call waits until it is closed
	fn      func(ctx context.Context, n int64) (*oauth2.Token, error) // n counts the calls from 1
	stop    <-chan struct{}

	mu     sync.Mutex
	issued []*oauth2.Token // the tokens it returned
}

// lfNewLogin returns an lfLogin that returns what fn does.
func lfNewLogin(t *testing.T, fn func(ctx context.Context, n int64) (*oauth2.Token, error)) *lfLogin {
	return &lfLogin{fn: fn, stop: t.Context().Done()}
}

// lfServerLogin returns an lfLogin that logs the user in at srv.
func lfServerLogin(t *testing.T, srv *tokensourcetest.Server) *lfLogin {
	return lfNewLogin(t, func(context.Context, int64) (*oauth2.Token, error) { return srv.Login(), nil })
}

// held makes l report each call on a new entered, and wait for release.
func (l *lfLogin) held() *lfLogin {
	l.entered = make(chan context.Context, 4)
	l.release = make(chan struct{})
	return l
}

func (l *lfLogin) login(ctx context.Context) (*oauth2.Token, error) {
	n := l.calls.Add(1)
	if l.entered != nil {
		select {
		case l.entered <- ctx:
		default:
		}
	}
	if l.release != nil {
		select {
		case <-l.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-l.stop:
			return nil, errors.New("the test ended")
		}
	}
	if l.delay > 0 {
		timer := time.NewTimer(l.delay)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	tok, err := l.fn(ctx, n)
	if tok != nil {
		l.mu.Lock()
		l.issued = append(l.issued, tok)
		l.mu.Unlock()
	}
	return tok, err
}

// lastIssued returns the token l returned last, or nil.
func (l *lfLogin) lastIssued() *oauth2.Token {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.issued) == 0 {
		return nil
	}
	return l.issued[len(l.issued)-1]
}

// lfResult is what a TokenContext returned.
type lfResult struct {
	tok *oauth2.Token
	err error
}

// lfTokenAsync calls TokenContext in a goroutine, bounded.
func lfTokenAsync(t *testing.T, s *tokensource.Source) <-chan lfResult {
	ch := make(chan lfResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), lfWait)
		defer cancel()
		tok, err := s.TokenContext(ctx)
		ch <- lfResult{tok, err}
	}()
	return ch
}

// lfToken calls TokenContext, and fails t if the bound ended the call.
func lfToken(t *testing.T, s *tokensource.Source) (*oauth2.Token, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), lfWait)
	defer cancel()
	tok, err := s.TokenContext(ctx)
	if err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		t.Fatalf("TokenContext still waiting after %v", lfWait)
	}
	return tok, err
}

// lfMustToken is lfToken that must succeed.
func lfMustToken(t *testing.T, s *tokensource.Source) *oauth2.Token {
	t.Helper()
	tok, err := lfToken(t, s)
	if err != nil {
		t.Fatalf("TokenContext: %v", err)
	}
	if tok == nil || tok.AccessToken == "" {
		t.Fatalf("TokenContext returned %v and no error", tok)
	}
	return tok
}

// lfRecv receives from ch, bounded.
func lfRecv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(lfWait):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// lfCtx returns a context that ends after lfWait.
func lfCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), lfWait)
	t.Cleanup(cancel)
	return ctx
}

// lfStatus returns the status srv's protected resource responds with to
// a request with the access token access.
func lfStatus(t *testing.T, srv *tokensourcetest.Server, access string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(lfCtx(t), http.MethodGet, srv.ResourceURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// lfRecord returns the record in the token file at path.
func lfRecord(t *testing.T, path string) *tokensource.Record {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := tokensource.DecodeRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// lfDescribe describes rec for a test's failure, without token values.
func lfDescribe(rec *tokensource.Record) string {
	if rec == nil {
		return "no record"
	}
	tok := "no token"
	if rec.Token != nil {
		tok = "a token with access token " + tokensource.Fingerprint(rec.Token.AccessToken)
	}
	return fmt.Sprintf("generation %d, logged out %v, %s, LoginRetryAt %v", rec.Generation, rec.LoggedOut, tok, rec.LoginRetryAt)
}

// lfSave saves tok in a new token file, and returns its path.
func lfSave(t *testing.T, tok *oauth2.Token) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token.json")
	if err := tokensource.NewFileStore(path).Save(lfCtx(t), tok); err != nil {
		t.Fatal(err)
	}
	return path
}

// isReauth reports whether err wraps ErrReauthRequired and each of also.
func isReauth(err error, also ...error) bool {
	if !errors.Is(err, tokensource.ErrReauthRequired) {
		return false
	}
	for _, e := range also {
		if !errors.Is(err, e) {
			return false
		}
	}
	return true
}

// TestLoginOnceAcrossProcesses: 8 Sources in this process on one token
// file, and one in a child process on the same file, all need a token at
// once from an empty store; their LoginFunc takes 300ms. Exactly one of
// them logs in, in either process, and all of them serve its token, which
// the file holds: none refreshes it instead of adopting it.
func TestLoginOnceAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	srv := lfServer(t, nil)
	path := filepath.Join(t.TempDir(), "token.json")
	child := lfStartChild(t, lfChildSpec{Mode: "once", File: path, URL: srv.URL})

	login := lfServerLogin(t, srv)
	login.delay = 300 * time.Millisecond
	store := tokensource.NewFileStore(path)
	const n = 8
	srcs := make([]*tokensource.Source, n)
	for i := range srcs {
		srcs[i] = lfSource(t, srv, store, &tokensource.Options{Login: login.login})
	}
	start := make(chan struct{})
	results := make([]chan lfResult, n)
	for i, s := range srcs {
		results[i] = make(chan lfResult, 1)
		go func() {
			<-start
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			tok, err := s.TokenContext(ctx)
			results[i] <- lfResult{tok, err}
		}()
	}
	close(start)
	child.Send(t, "go")

	var access string
	for i := range srcs {
		r := lfRecv(t, results[i], "a Source's token")
		if r.err != nil {
			t.Fatalf("Source %d: %v", i, r.err)
		}
		if access == "" {
			access = r.tok.AccessToken
		}
		if r.tok.AccessToken != access {
			t.Errorf("Source %d serves another access token than Source 0", i)
		}
	}
	var rep lfChildReport
	child.Report(t, &rep)
	if rep.Err != "" {
		t.Fatalf("the child got %s", rep.Err)
	}
	if rep.Access != tokensource.Fingerprint(access) {
		t.Errorf("the child serves another access token than this process")
	}

	var logins, loginErrors int64
	for _, s := range srcs {
		logins += s.Stats().Logins
		loginErrors += s.Stats().LoginErrors
	}
	t.Logf("LoginFunc calls: %d here, %d in the child; server: %+v", login.calls.Load(), rep.Calls, srv.Stats())
	if calls := login.calls.Load() + rep.Calls; calls != 1 {
		t.Errorf("LoginFunc called %d times across both processes, want 1", calls)
	}
	if logins += rep.Stats.Logins; logins != 1 || loginErrors+rep.Stats.LoginErrors != 0 {
		t.Errorf("Stats.Logins sum to %d, LoginErrors to %d; want 1 and 0", logins, loginErrors+rep.Stats.LoginErrors)
	}
	if st := srv.Stats(); st.Refreshes != 0 || st.ReuseDetected != 0 {
		t.Errorf("the server saw %d refreshes and %d reuses; want none: every Source adopts the login", st.Refreshes, st.ReuseDetected)
	}
	stored, err := tokensource.NewFileStore(path).Load(lfCtx(t))
	if err != nil || stored.AccessToken != access {
		t.Fatalf("loading the file: %v; or it holds another token than the login's", err)
	}
	if code := lfStatus(t, srv, access); code != http.StatusOK {
		t.Errorf("the resource responds %d to the login's token, want 200", code)
	}
}

// lfGatedFile is a FileStore whose Lock, the gate-th time it is called,
// reports it on at and waits until release is closed.
type lfGatedFile struct {
	*tokensource.FileStore
	gate    int64
	n       atomic.Int64
	at      chan struct{}
	release chan struct{}
}

func (g *lfGatedFile) Lock(ctx context.Context) (func(), error) {
	if g.n.Add(1) == g.gate {
		g.at <- struct{}{}
		select {
		case <-g.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return g.FileStore.Lock(ctx)
}

// TestLoginFindsAnotherLoginAndAdoptsIt: Source B found the store empty
// and is about to log in; before it takes the lock for its login, Source
// A logs in. B, reloading under the lock, finds A's login: it serves that
// token, as it is, without a login or a refresh of its own.
func TestLoginFindsAnotherLoginAndAdoptsIt(t *testing.T) {
	srv := lfServer(t, nil)
	path := filepath.Join(t.TempDir(), "token.json")
	login := lfServerLogin(t, srv)
	// B's second Lock is the one of its login: its refresh took the first.
	gated := &lfGatedFile{FileStore: tokensource.NewFileStore(path), gate: 2, at: make(chan struct{}, 1), release: make(chan struct{})}
	b := lfSource(t, srv, gated, &tokensource.Options{Login: login.login})
	a := lfSource(t, srv, tokensource.NewFileStore(path), &tokensource.Options{Login: login.login})
	var once sync.Once
	open := func() { once.Do(func() { close(gated.release) }) }
	t.Cleanup(open)

	resB := lfTokenAsync(t, b)
	lfRecv(t, gated.at, "B at the lock of its login")
	tokA := lfMustToken(t, a)
	open()
	r := lfRecv(t, resB, "B's token")
	if r.err != nil {
		t.Fatalf("B: %v", r.err)
	}
	if r.tok.AccessToken != tokA.AccessToken {
		t.Errorf("B serves another access token than A's login: it did not adopt it")
	}
	if n := login.calls.Load(); n != 1 {
		t.Errorf("LoginFunc called %d times, want 1", n)
	}
	if st := b.Stats(); st.Logins != 0 || st.Refreshes != 0 || st.Adopted != 1 {
		t.Errorf("B's stats %+v; want no login, no refresh, 1 adopted", st)
	}
	if st := srv.Stats(); st.Refreshes != 0 {
		t.Errorf("the server saw %d refreshes, want 0", st.Refreshes)
	}
	if rec := lfRecord(t, path); rec.Token == nil || rec.Token.AccessToken != tokA.AccessToken {
		t.Errorf("the file holds %s, want A's login", lfDescribe(rec))
	}
}

// TestLoginOnInvalidGrant: a refresh that the server refuses with
// invalid_grant (the grant was revoked, or the server never knew the
// refresh token) logs in once, and requests with the new token work.
func TestLoginOnInvalidGrant(t *testing.T) {
	for _, tc := range []struct {
		name string
		old  func(srv *tokensourcetest.Server) *oauth2.Token
	}{
		{"revoked", func(srv *tokensourcetest.Server) *oauth2.Token {
			tok := srv.Login()
			srv.RevokeFamily(tok.RefreshToken)
			return tok
		}},
		{"unknown", func(*tokensourcetest.Server) *oauth2.Token {
			return &oauth2.Token{AccessToken: "at_unknown", TokenType: "Bearer", RefreshToken: "rt_unknown"}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := lfServer(t, nil)
			old := tc.old(srv)
			old.Expiry = time.Now().Add(-time.Minute) // the next use refreshes
			path := lfSave(t, old)
			login := lfServerLogin(t, srv)
			src := lfSource(t, srv, tokensource.NewFileStore(path), &tokensource.Options{Login: login.login})
			client := tokensource.NewClient(context.Background(), src)

			for i := range 2 {
				req, err := http.NewRequestWithContext(lfCtx(t), http.MethodGet, srv.ResourceURL(), nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := client.Do(req)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d: %s, want 200", i, resp.Status)
				}
			}
			if n := login.calls.Load(); n != 1 {
				t.Errorf("LoginFunc called %d times, want 1", n)
			}
			if st := src.Stats(); st.Logins != 1 || st.LoginErrors != 0 {
				t.Errorf("Stats.Logins %d, LoginErrors %d; want 1 and 0", st.Logins, st.LoginErrors)
			}
			if st := srv.Stats(); st.RefreshFailures != 1 || st.Resource200 != 2 {
				t.Errorf("server stats %+v; want 1 refused refresh and 2 requests served", st)
			}
			tok := lfMustToken(t, src)
			if want := login.lastIssued(); tok.AccessToken != want.AccessToken || tok.AccessToken == old.AccessToken {
				t.Errorf("the Source serves %q; want the login's token", tok.AccessToken)
			}
			if rec := lfRecord(t, path); rec.Token == nil || rec.Token.AccessToken != tok.AccessToken {
				t.Errorf("the file holds %s, want the login's token", lfDescribe(rec))
			}
		})
	}
}

// TestLoginNotOnTransientFailure: a refresh that fails for a while (5xx,
// 429, no response, a timeout) never logs in: the grant is still good,
// and a later refresh gets a token with it.
func TestLoginNotOnTransientFailure(t *testing.T) {
	for _, fault := range []tokensourcetest.Fault{
		tokensourcetest.FaultServerError,
		tokensourcetest.FaultUnavailable,
		tokensourcetest.FaultTooManyRequests,
		tokensourcetest.FaultResetConnection,
		tokensourcetest.FaultHang,
	} {
		t.Run(fault.String(), func(t *testing.T) {
			srv := lfServer(t, nil)
			old := srv.Login()
			old.Expiry = time.Now().Add(-time.Minute)
			path := lfSave(t, old)
			login := lfServerLogin(t, srv)
			src := lfSource(t, srv, tokensource.NewFileStore(path), &tokensource.Options{
				Login:          login.login,
				RefreshTimeout: 300 * time.Millisecond, // for FaultHang
			})
			srv.FailNext(1, fault)
			if tok, err := lfToken(t, src); err == nil || isReauth(err) {
				t.Fatalf("TokenContext: got a token %v, error %v; want a failure that is not ErrReauthRequired", tok != nil, err)
			}
			if n := login.calls.Load(); n != 0 {
				t.Fatalf("LoginFunc called %d times, want 0", n)
			}
			if st := src.Stats(); st.Logins != 0 || st.LoginErrors != 0 {
				t.Fatalf("Stats.Logins %d, LoginErrors %d; want 0 and 0", st.Logins, st.LoginErrors)
			}
			// The grant is good: a refresh (Refresh skips the backoff) gets
			// a token with it, still without a login.
			tok, err := src.Refresh(lfCtx(t))
			if err != nil {
				t.Fatalf("Refresh after %v: %v", fault, err)
			}
			if n := login.calls.Load(); n != 0 {
				t.Errorf("LoginFunc called %d times, want 0", n)
			}
			if code := lfStatus(t, srv, tok.AccessToken); code != http.StatusOK {
				t.Errorf("the resource responds %d to the refreshed token, want 200", code)
			}
		})
	}
}

type lfCtxKey struct{}

// TestLoginContext: the ctx a LoginFunc gets carries the values of the
// caller that needed the token, not its cancellation, and a deadline of
// LoginTimeout. The caller whose deadline passes gets
// context.DeadlineExceeded at once; the login goes on, and a later call
// gets its token without a second login.
func TestLoginContext(t *testing.T) {
	for _, timeout := range []time.Duration{0, 90 * time.Second} {
		t.Run("LoginTimeout="+timeout.String(), func(t *testing.T) {
			want := timeout
			if want == 0 {
				want = tokensource.DefaultLoginTimeout
			}
			srv := lfServer(t, nil)
			login := lfServerLogin(t, srv).held()
			src := lfSource(t, srv, tokensource.NewMemoryStore(), &tokensource.Options{Login: login.login, LoginTimeout: timeout})

			ctx := context.WithValue(context.Background(), lfCtxKey{}, "caller-42")
			ctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			before := time.Now()
			tok, err := src.TokenContext(ctx)
			if !errors.Is(err, context.DeadlineExceeded) || tok != nil {
				t.Fatalf("TokenContext: got a token %v, error %v; want context.DeadlineExceeded", tok != nil, err)
			}
			if d := time.Since(before); d > lfWait/2 {
				t.Fatalf("TokenContext returned after %v: the caller waited for the login, not its deadline", d)
			}

			lctx := lfRecv(t, login.entered, "the login")
			if v := lctx.Value(lfCtxKey{}); v != "caller-42" {
				t.Errorf("the login's ctx has the value %v, want the caller's", v)
			}
			if err := lctx.Err(); err != nil {
				t.Fatalf("the login's ctx ended with the caller's: %v", err)
			}
			deadline, ok := lctx.Deadline()
			if !ok {
				t.Fatal("the login's ctx has no deadline")
			}
			if lo, hi := before.Add(want), time.Now().Add(want); deadline.Before(lo) || deadline.After(hi) {
				t.Errorf("the login's deadline is %v from the call, want %v", deadline.Sub(before), want)
			}

			close(login.release)
			tok = lfMustToken(t, src)
			if issued := login.lastIssued(); issued == nil || tok.AccessToken != issued.AccessToken {
				t.Errorf("the later call got %q, want the login's token", tok.AccessToken)
			}
			if n := login.calls.Load(); n != 1 {
				t.Errorf("LoginFunc called %d times, want 1", n)
			}
			if st := src.Stats(); st.Logins != 1 {
				t.Errorf("Stats.Logins = %d, want 1", st.Logins)
			}
		})
	}
}

// TestLoginFailureReachesEveryCaller: a login that fails fails every
// caller waiting for it with an error wrapping ErrReauthRequired and the
// LoginFunc's error. During the cooldown, neither this Source nor another
// on the same file calls Login again; after it, the other logs in, once,
// and this one adopts its token.
func TestLoginFailureReachesEveryCaller(t *testing.T) {
	clock := tokensourcetest.NewClock(lfEpoch)
	srv := lfServer(t, &tokensourcetest.Options{Now: clock.Now})
	path := filepath.Join(t.TempDir(), "token.json")
	errDenied := errors.New("the user denied the consent")
	loginA := lfNewLogin(t, func(context.Context, int64) (*oauth2.Token, error) { return nil, errDenied }).held()
	const cooldown = time.Minute
	a := lfSource(t, srv, tokensource.NewFileStore(path), &tokensource.Options{Now: clock.Now, Login: loginA.login, LoginCooldown: cooldown})

	const callers = 5
	results := []<-chan lfResult{lfTokenAsync(t, a)}
	lfRecv(t, loginA.entered, "the login")
	for range callers - 1 {
		results = append(results, lfTokenAsync(t, a)) // the login runs: they wait for it
	}
	close(loginA.release)
	for i, ch := range results {
		r := lfRecv(t, ch, "a caller's result")
		if !isReauth(r.err, errDenied) {
			t.Errorf("caller %d: got a token %v, error %v; want an error wrapping ErrReauthRequired and the login's", i, r.tok != nil, r.err)
		}
	}
	if n := loginA.calls.Load(); n != 1 {
		t.Fatalf("LoginFunc called %d times, want 1", n)
	}
	if st := a.Stats(); st.LoginErrors != 1 || st.Logins != 0 {
		t.Errorf("Stats.LoginErrors %d, Logins %d; want 1 and 0", st.LoginErrors, st.Logins)
	}
	retryAt := lfEpoch.Add(cooldown)
	if rec := lfRecord(t, path); !rec.LoginRetryAt.Equal(retryAt) || rec.Token != nil || rec.LoggedOut {
		t.Errorf("the file holds %s; want only LoginRetryAt %v", lfDescribe(rec), retryAt)
	}

	// During the cooldown: this Source fails the same way, at once.
	if _, err := lfToken(t, a); !isReauth(err, errDenied) {
		t.Errorf("during the cooldown: %v; want ErrReauthRequired and the login's error", err)
	}
	// And another Source on the file, as in another process, does not log in.
	loginB := lfServerLogin(t, srv)
	b := lfSource(t, srv, tokensource.NewFileStore(path), &tokensource.Options{Now: clock.Now, Login: loginB.login})
	clock.Advance(cooldown - time.Second)
	_, err := lfToken(t, b)
	if !isReauth(err) {
		t.Errorf("B during the cooldown: %v; want ErrReauthRequired", err)
	} else if !strings.Contains(err.Error(), retryAt.Format(time.RFC3339)) {
		t.Errorf("B's error %q does not say when the next login may be", err)
	}
	if n := loginA.calls.Load() + loginB.calls.Load(); n != 1 {
		t.Fatalf("LoginFunc called %d times during the cooldown, want 1 (the failed one)", n)
	}

	clock.Advance(2 * time.Second) // the cooldown has passed
	tokB := lfMustToken(t, b)
	if n := loginB.calls.Load(); n != 1 {
		t.Errorf("B's LoginFunc called %d times, want 1", n)
	}
	tokA := lfMustToken(t, a)
	if tokA.AccessToken != tokB.AccessToken {
		t.Errorf("A serves another token than B's login")
	}
	if n := loginA.calls.Load(); n != 1 {
		t.Errorf("A's LoginFunc called %d times, want 1: it should adopt B's login", n)
	}
	if rec := lfRecord(t, path); !rec.LoginRetryAt.IsZero() || rec.Token == nil || rec.Token.AccessToken != tokB.AccessToken {
		t.Errorf("the file holds %s; want B's login and no LoginRetryAt", lfDescribe(rec))
	}
}

// TestLoginCooldownAcrossProcesses: a child process's login fails; the
// cooldown it records in the file keeps a Source of this process from
// calling Login until it ends, by this Source's clock, and not after.
func TestLoginCooldownAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process")
	}
	clock := tokensourcetest.NewClock(lfEpoch)
	srv := lfServer(t, &tokensourcetest.Options{Now: clock.Now})
	path := filepath.Join(t.TempDir(), "token.json")
	const cooldown = 10 * time.Minute
	child := lfStartChild(t, lfChildSpec{Mode: "fail", File: path, URL: srv.URL, Now: lfEpoch, Cooldown: cooldown})
	child.Send(t, "go")
	var rep lfChildReport
	child.Report(t, &rep)
	if rep.Calls != 1 || !rep.Reauth || !rep.LoginErr || rep.Stats.LoginErrors != 1 {
		t.Fatalf("the child: %+v; want one failed login, and an error wrapping ErrReauthRequired and the login's", rep)
	}
	retryAt := lfEpoch.Add(cooldown)
	if rec := lfRecord(t, path); !rec.LoginRetryAt.Equal(retryAt) || rec.Token != nil {
		t.Fatalf("the file holds %s; want only LoginRetryAt %v", lfDescribe(rec), retryAt)
	}

	login := lfServerLogin(t, srv)
	src := lfSource(t, srv, tokensource.NewFileStore(path), &tokensource.Options{Now: clock.Now, Login: login.login})
	for _, at := range []time.Duration{time.Minute, cooldown - time.Second} {
		clock.Set(lfEpoch.Add(at))
		if tok, err := lfToken(t, src); !isReauth(err) {
			t.Fatalf("at +%v, in the cooldown: got a token %v, error %v; want ErrReauthRequired", at, tok != nil, err)
		}
		if n := login.calls.Load(); n != 0 {
			t.Fatalf("at +%v, in the cooldown: LoginFunc called %d times, want 0", at, n)
		}
	}
	clock.Set(retryAt.Add(time.Second))
	tok := lfMustToken(t, src)
	if n := login.calls.Load(); n != 1 {
		t.Fatalf("after the cooldown: LoginFunc called %d times, want 1", n)
	}
	if rec := lfRecord(t, path); rec.Token == nil || rec.Token.AccessToken != tok.AccessToken || !rec.LoginRetryAt.IsZero() {
		t.Errorf("the file holds %s; want the login and no LoginRetryAt", lfDescribe(rec))
	}
}

// TestLoginPanicIsFailure: a LoginFunc that panics is a failed login, with
// its cooldown; the Source logs in after it.
func TestLoginPanicIsFailure(t *testing.T) {
	clock := tokensourcetest.NewClock(lfEpoch)
	srv := lfServer(t, &tokensourcetest.Options{Now: clock.Now})
	errBoom := errors.New("the login window crashed")
	login := lfNewLogin(t, func(_ context.Context, n int64) (*oauth2.Token, error) {
		if n == 1 {
			panic(errBoom)
		}
		return srv.Login(), nil
	})
	src := lfSource(t, srv, tokensource.NewMemoryStore(), &tokensource.Options{Now: clock.Now, Login: login.login})
	_, err := lfToken(t, src)
	if !isReauth(err, errBoom) || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("TokenContext: %v; want a panicked login, wrapping ErrReauthRequired and the panic", err)
	}
	if st := src.Stats(); st.LoginErrors != 1 || st.Logins != 0 {
		t.Errorf("Stats.LoginErrors %d, Logins %d; want 1 and 0", st.LoginErrors, st.Logins)
	}
	if _, err := lfToken(t, src); !isReauth(err, errBoom) {
		t.Errorf("during the cooldown: %v; want the same failure", err)
	}
	if n := login.calls.Load(); n != 1 {
		t.Fatalf("LoginFunc called %d times during the cooldown, want 1", n)
	}
	clock.Advance(tokensource.DefaultLoginCooldown + time.Second)
	lfMustToken(t, src)
	if n := login.calls.Load(); n != 2 {
		t.Errorf("LoginFunc called %d times, want 2", n)
	}
}

// TestLoginWithoutAccessTokenIsFailure: a LoginFunc that returns no
// access token failed: nothing is saved, and the error says why without
// quoting what it got.
func TestLoginWithoutAccessTokenIsFailure(t *testing.T) {
	for _, tc := range []struct {
		name string
		tok  *oauth2.Token
	}{
		{"refresh token only", &oauth2.Token{RefreshToken: "rt_secret_from_login"}},
		{"nil token", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := lfServer(t, nil)
			login := lfNewLogin(t, func(context.Context, int64) (*oauth2.Token, error) { return tc.tok, nil })
			store := tokensource.NewMemoryStore()
			src := lfSource(t, srv, store, &tokensource.Options{Login: login.login})
			_, err := lfToken(t, src)
			if !isReauth(err) || !strings.Contains(err.Error(), "no access token") {
				t.Fatalf("TokenContext: %v; want ErrReauthRequired, for no access token", err)
			}
			if strings.Contains(err.Error(), "rt_secret_from_login") {
				t.Errorf("the error %q quotes the refresh token", err)
			}
			if st := src.Stats(); st.LoginErrors != 1 || st.Logins != 0 {
				t.Errorf("Stats.LoginErrors %d, Logins %d; want 1 and 0", st.LoginErrors, st.Logins)
			}
			if tok, err := store.Load(lfCtx(t)); !errors.Is(err, tokensource.ErrNotFound) {
				t.Errorf("the store holds a token: %v (%v); want nothing", tok != nil, err)
			}
		})
	}
}

// TestLoginTimeoutIsFailure: LoginTimeout bounds a login: a LoginFunc that
// returns at its ctx's end, or returns a token after it, failed.
func TestLoginTimeoutIsFailure(t *testing.T) {
	for _, tc := range []struct {
		name  string
		token bool // returns a token after the deadline rather than the ctx's error
	}{
		{"returns ctx.Err", false},
		{"token after the deadline", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := lfServer(t, nil)
			login := lfNewLogin(t, func(lctx context.Context, _ int64) (*oauth2.Token, error) {
				select {
				case <-lctx.Done():
				case <-time.After(lfWait):
					return nil, errors.New("the login's ctx never ended")
				}
				if tc.token {
					return srv.Login(), nil
				}
				return nil, lctx.Err()
			})
			store := tokensource.NewMemoryStore()
			src := lfSource(t, srv, store, &tokensource.Options{Login: login.login, LoginTimeout: 100 * time.Millisecond})
			_, err := lfToken(t, src)
			if !isReauth(err, context.DeadlineExceeded) {
				t.Fatalf("TokenContext: %v; want ErrReauthRequired and context.DeadlineExceeded", err)
			}
			if st := src.Stats(); st.LoginErrors != 1 || st.Logins != 0 {
				t.Errorf("Stats.LoginErrors %d, Logins %d; want 1 and 0", st.LoginErrors, st.Logins)
			}
			if tok, err := store.Load(lfCtx(t)); !errors.Is(err, tokensource.ErrNotFound) {
				t.Errorf("the store holds a token: %v (%v); want nothing", tok != nil, err)
			}
		})
	}
}

// TestLoginCooldownOff: with a negative LoginCooldown, a failed login
// fails its callers like any other, but the next use logs in again at
// once, and the file records no cooldown.
func TestLoginCooldownOff(t *testing.T) {
	srv := lfServer(t, nil)
	path := filepath.Join(t.TempDir(), "token.json")
	errDenied := errors.New("denied")
	login := lfNewLogin(t, func(_ context.Context, n int64) (*oauth2.Token, error) {
		if n == 1 {
			return nil, errDenied
		}
		return srv.Login(), nil
	})
	src := lfSource(t, srv, tokensource.NewFileStore(path), &tokensource.Options{Login: login.login, LoginCooldown: -1})
	if tok, err := lfToken(t, src); !isReauth(err, errDenied) {
		t.Errorf("TokenContext: got a token %v, error %v; want ErrReauthRequired and the login's error", tok != nil, err)
	}
	if n := login.calls.Load(); n != 1 {
		t.Errorf("LoginFunc called %d times for one use, want 1", n)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed login wrote the file (%v); with no cooldown there is nothing to record", err)
	}
	lfMustToken(t, src)
	if n := login.calls.Load(); n != 2 {
		t.Errorf("LoginFunc called %d times after the next use, want 2", n)
	}
}

// TestLoginAfterTombstone: after Delete (a log-out, in another process
// say), a Source with Login logs in at its next use; one without returns
// ErrReauthRequired and ErrLoggedOut, and adopts the login later.
func TestLoginAfterTombstone(t *testing.T) {
	srv := lfServer(t, nil)
	path := lfSave(t, srv.Login())
	if err := tokensource.NewFileStore(path).Delete(lfCtx(t)); err != nil {
		t.Fatal(err)
	}
	without := lfSource(t, srv, tokensource.NewFileStore(path), nil)
	if tok, err := lfToken(t, without); !isReauth(err, tokensource.ErrLoggedOut) {
		t.Fatalf("without Login: got a token %v, error %v; want ErrReauthRequired and ErrLoggedOut", tok != nil, err)
	}

	login := lfServerLogin(t, srv)
	with := lfSource(t, srv, tokensource.NewFileStore(path), &tokensource.Options{Login: login.login})
	tok := lfMustToken(t, with)
	if n := login.calls.Load(); n != 1 {
		t.Errorf("LoginFunc called %d times, want 1", n)
	}
	if st := with.Stats(); st.Logins != 1 {
		t.Errorf("Stats.Logins = %d, want 1", st.Logins)
	}
	if rec := lfRecord(t, path); rec.LoggedOut || rec.Token == nil || rec.Token.AccessToken != tok.AccessToken {
		t.Errorf("the file holds %s; want the login in place of the tombstone", lfDescribe(rec))
	}
	if code := lfStatus(t, srv, tok.AccessToken); code != http.StatusOK {
		t.Errorf("the resource responds %d to the login's token, want 200", code)
	}
	if got := lfMustToken(t, without); got.AccessToken != tok.AccessToken {
		t.Errorf("the Source without Login serves another token than the login's")
	}
}
