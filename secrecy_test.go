package tokensource

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// A secrecyWatch collects, while a scenario runs, every token value that
// goes over the wire or into the token file or comes out of a Source, and
// everything the package says: each log record at debug level, with every
// attribute, and each error it returns or logs. check then looks for the
// first in the second, and checks the form of each error's message.
type secrecyWatch struct {
	t   *testing.T
	log syncBuffer

	mu      sync.Mutex
	secrets map[string]bool
	errs    []string // every error returned or logged, and every error it wraps
	tops    []error  // every error returned or logged
}

// syncBuffer is a bytes.Buffer for several slog handlers at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newSecrecyWatch(t *testing.T) *secrecyWatch {
	w := &secrecyWatch{t: t, secrets: map[string]bool{}}
	t.Cleanup(w.check)
	return w
}

// logger returns a debug-level logger that writes every record to the
// watch three times: as JSON, as text, and with every attribute value
// spelled out with %+v and, for errors, every error in its chain.
func (w *secrecyWatch) logger() *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug, AddSource: true}
	return slog.New(slog.NewMultiHandler(
		slog.NewJSONHandler(&w.log, opts),
		slog.NewTextHandler(&w.log, opts),
		&spellingHandler{w: w},
	))
}

// spellingHandler writes each attribute value with %+v, and the message
// of each error an error attribute wraps.
type spellingHandler struct {
	w     *secrecyWatch
	attrs []slog.Attr
}

func (h *spellingHandler) Enabled(context.Context, slog.Level) bool { return true }

func (h *spellingHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%v %s", r.Level, r.Message)
	spell := func(a slog.Attr) bool {
		v := a.Value.Resolve().Any()
		fmt.Fprintf(&b, " %s=%+v", a.Key, v)
		if err, ok := v.(error); ok {
			for _, msg := range errorChain(err) {
				fmt.Fprintf(&b, " [%s]", msg)
			}
			h.w.addErr(err)
		}
		return true
	}
	for _, a := range h.attrs {
		spell(a)
	}
	r.Attrs(spell)
	b.WriteByte('\n')
	h.w.log.Write([]byte(b.String()))
	return nil
}

func (h *spellingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &spellingHandler{w: h.w, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *spellingHandler) WithGroup(string) slog.Handler { return h }

// errorChain returns the message of err and of every error it wraps.
func errorChain(err error) []string {
	var msgs []string
	eachError(err, func(e error) { msgs = append(msgs, e.Error()) })
	return msgs
}

// eachError calls fn with err and with every error it wraps, through
// Unwrap() error and Unwrap() []error alike.
func eachError(err error, fn func(error)) {
	if err == nil {
		return
	}
	fn(err)
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		eachError(u.Unwrap(), fn)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			eachError(e, fn)
		}
	}
}

// client returns an HTTP client that notes the refresh token of every
// token request and the tokens of every response.
func (w *secrecyWatch) client() *http.Client {
	return &http.Client{Transport: watchingTransport{w}}
}

// watchingTransport is http.DefaultTransport, whose idle connections the
// server's Close closes, with an eye on the tokens going through it.
type watchingTransport struct{ w *secrecyWatch }

func (rt watchingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			data, _ := io.ReadAll(body)
			form, _ := url.ParseQuery(string(data))
			rt.w.add(form.Get("refresh_token"))
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	rt.w.addJSON(data)
	resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(data), errReader{err}))
	return resp, nil
}

func (w *secrecyWatch) add(secret string) {
	if secret == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.secrets[secret] = true
}

func (w *secrecyWatch) addToken(tok *oauth2.Token) {
	if tok != nil {
		w.add(tok.AccessToken)
		w.add(tok.RefreshToken)
	}
}

// tokenField finds a token field in a body that may not be valid JSON,
// such as a truncated one.
var tokenField = regexp.MustCompile(`"(?:access|refresh)_token"\s*:\s*"([^"\\]+)`)

// addJSON notes the tokens of a JSON object, and any value of a token field
// in data even if it is not valid JSON.
func (w *secrecyWatch) addJSON(data []byte) {
	var m map[string]any
	if json.Unmarshal(data, &m) == nil {
		for _, key := range []string{"access_token", "refresh_token"} {
			if s, ok := m[key].(string); ok {
				w.add(s)
			}
		}
	}
	for _, match := range tokenField.FindAllSubmatch(data, -1) {
		w.add(string(match[1]))
	}
}

// addFile notes the tokens in the token file at path, if it holds any.
func (w *secrecyWatch) addFile(path string) {
	if data, err := os.ReadFile(path); err == nil {
		w.addJSON(data)
	}
}

// addErr notes err, and what it and every error it wraps say.
func (w *secrecyWatch) addErr(err error) {
	if err == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.errs = append(w.errs, errorChain(err)...)
	w.tops = append(w.tops, err)
}

// token calls src.Token and notes what it returns.
func (w *secrecyWatch) token(src *Source) (*oauth2.Token, error) {
	tok, err := src.Token()
	w.addToken(tok)
	w.addErr(err)
	return tok, err
}

// wantLogged fails the test unless a log record said msg, so that a
// scenario is known to have produced the output the watch checks.
func (w *secrecyWatch) wantLogged(msg string) {
	w.t.Helper()
	if !strings.Contains(w.log.String(), msg) {
		w.t.Errorf("nothing logged %q; the log:\n%s", msg, w.log.String())
	}
}

// check fails the test if a token value appears in the log or in an error,
// or if an error's message does not name its package once (see
// checkErrorText).
func (w *secrecyWatch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.secrets) == 0 {
		w.t.Error("the scenario saw no token at all")
	}
	for _, err := range w.tops {
		checkErrorText(w.t, err)
	}
	logged := w.log.String()
	if logged == "" {
		w.t.Error("the scenario logged nothing")
	}
	for secret := range w.secrets {
		if strings.Contains(logged, secret) {
			w.t.Errorf("the log holds token %s:\n%s", secret, logged)
		}
		for _, msg := range w.errs {
			if strings.Contains(msg, secret) {
				w.t.Errorf("an error holds token %s: %s", secret, msg)
			}
		}
	}
}

// projectPackages are the packages of this project, whose names an error
// message may hold once each.
var projectPackages = []string{"tokensource", "redisstore", "pgstore", "grpcsource", "otelsource", "tokensourcetest"}

// checkErrorText fails t unless err's message names this package or
// another of this project (an error of the package that wraps none of the
// project's carries the name), and names each at most once: on the
// innermost error of the project. A context's error, returned as it is to
// a caller whose context ended, is the exception.
func checkErrorText(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if err == context.Canceled || err == context.DeadlineExceeded {
		return
	}
	names := 0
	for _, pkg := range projectPackages {
		n := strings.Count(msg, pkg+": ")
		if n > 1 {
			t.Errorf("error names %s %d times: %s", pkg, n, msg)
		}
		names += n
	}
	if names == 0 {
		t.Errorf("error names no package of this project: %s", msg)
	}
}

// secretRig returns a rig whose Source logs to w and refreshes through w's
// client, with the login token noted.
func secretRig(t *testing.T, w *secrecyWatch, opts *Options) *serverRig {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	opts.Logger = w.logger()
	r := newServerRig(t, opts)
	r.ctx = context.WithValue(context.Background(), oauth2.HTTPClient, w.client())
	r.src = r.newSource(r.srv.Config())
	w.addFile(r.path)
	return r
}

// mustWatchedToken is w.token, failing t on an error.
func mustWatchedToken(t *testing.T, w *secrecyWatch, src *Source) *oauth2.Token {
	t.Helper()
	tok, err := w.token(src)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestNoTokenInLogsOrErrors runs the main scenarios with a debug logger and
// checks that no access or refresh token value the server issued, the
// Source returned or the token file held appears in any log record or in
// any error the package returned, wrapped errors included. (That a
// FileStore writes its file with mode 0600, also over a file with wider
// modes, is TestFileStoreReplacesWideModeWith0600 and
// TestFileStorePermissions; here the Source's own saves are checked too.)
func TestNoTokenInLogsOrErrors(t *testing.T) {
	t.Run("load and expiry refresh", func(t *testing.T) {
		w := newSecrecyWatch(t)
		r := secretRig(t, w, nil)
		// Another program wrote the file with wider modes.
		if err := os.Chmod(r.path, 0o644); err != nil {
			t.Fatal(err)
		}
		first := mustWatchedToken(t, w, r.src)
		r.expire()
		if tok := mustWatchedToken(t, w, r.src); tok.AccessToken == first.AccessToken {
			t.Fatal("no refresh after expiry")
		}
		w.addFile(r.path)
		if runtime.GOOS != "windows" {
			checkMode(t, r.path, 0o600)
		}
		w.wantLogged("tokensource: refreshed")
	})

	t.Run("refresh ahead", func(t *testing.T) {
		w := newSecrecyWatch(t)
		r := secretRig(t, w, nil)
		first := mustWatchedToken(t, w, r.src)
		r.clock.Advance(tokensourcetest.DefaultAccessTokenLifetime - DefaultEarlyExpiry - DefaultRefreshAhead/2)
		mustWatchedToken(t, w, r.src)
		r.src.waitIdle(t)
		if tok := mustWatchedToken(t, w, r.src); tok.AccessToken == first.AccessToken {
			t.Fatal("no refresh ahead")
		}
		w.addFile(r.path)
		w.wantLogged("tokensource: refreshed")
	})

	t.Run("invalidate", func(t *testing.T) {
		w := newSecrecyWatch(t)
		r := secretRig(t, w, nil)
		first := mustWatchedToken(t, w, r.src)
		r.srv.RevokeAccessToken(first.AccessToken)
		r.src.Invalidate(first)
		mustWatchedToken(t, w, r.src)
		w.addFile(r.path)
		w.wantLogged("token rejected")
	})

	t.Run("save failure", func(t *testing.T) {
		w := newSecrecyWatch(t)
		r := secretRig(t, w, nil)
		notADirectory := filepath.Join(t.TempDir(), "file")
		writeFile(t, notADirectory, []byte("x"))
		src := r.newSourceWith(r.srv.Config(), saveElsewhere{r.store, NewFileStore(filepath.Join(notADirectory, "token.json"))})
		r.expire()
		mustWatchedToken(t, w, src)
		if st := src.Stats(); st.SaveErrors == 0 {
			t.Fatalf("Stats = %+v, want save errors", st)
		}
		w.wantLogged("cannot save the token")
	})

	faults := []tokensourcetest.Fault{
		tokensourcetest.FaultServerError, tokensourcetest.FaultUnavailable, tokensourcetest.FaultTooManyRequests,
		tokensourcetest.FaultMalformedJSON, tokensourcetest.FaultMissingAccessToken, tokensourcetest.FaultHang,
		tokensourcetest.FaultResetConnection, tokensourcetest.FaultLoseResponse, tokensourcetest.FaultInvalidGrant,
		tokensourcetest.FaultInvalidClient,
	}
	for _, fault := range faults {
		t.Run(fault.String(), func(t *testing.T) {
			w := newSecrecyWatch(t)
			opts := &Options{}
			if fault == tokensourcetest.FaultHang {
				opts.RefreshTimeout = 100 * time.Millisecond
			}
			r := secretRig(t, w, opts)
			r.expire()
			r.srv.FailNext(1, fault)
			if _, err := w.token(r.src); err == nil {
				t.Fatal("no error")
			}
			w.token(r.src) // during the backoff
			// The retry after the wait: a new token, or for a lost response
			// reuse detection, or for invalid_grant nothing.
			r.clock.Advance(retryAfterMax)
			w.token(r.src)
			w.token(r.src)
			w.addFile(r.path)
			w.wantLogged("refresh failed")
		})
	}

	t.Run("store failures", func(t *testing.T) {
		w := newSecrecyWatch(t)
		r := secretRig(t, w, nil)
		notADirectory := filepath.Join(t.TempDir(), "file")
		writeFile(t, notADirectory, []byte("x"))
		broken := NewFileStore(filepath.Join(notADirectory, "token.json"))
		login := mustLoad(t, r.store)
		r.expire()
		for _, st := range []Store{
			broken,                         // cannot load
			lockElsewhere{r.store, broken}, // cannot lock
			failingLoadStore{errors.New("disk on fire")},                                       // another package's
			storeWith(t, &oauth2.Token{AccessToken: login.AccessToken, Expiry: r.clock.Now()}), // nothing to refresh with
		} {
			src := r.newSourceWith(r.srv.Config(), st)
			if _, err := w.token(src); err == nil {
				t.Fatalf("%T: no error", st)
			}
			w.token(src) // during the backoff
		}
		w.wantLogged("cannot load the stored token")
	})

	t.Run("panic", func(t *testing.T) {
		w := newSecrecyWatch(t)
		r := secretRig(t, w, nil)
		o := r.opts
		src := New(func(context.Context, *oauth2.Token) (*oauth2.Token, error) { panic(ErrReauthRequired) }, r.store, &o)
		r.expire()
		if _, err := w.token(src); err == nil {
			t.Fatal("no error")
		}
		w.wantLogged("panicked")
	})

	t.Run("invalid_grant", func(t *testing.T) {
		w := newSecrecyWatch(t)
		r := secretRig(t, w, nil)
		first := mustWatchedToken(t, w, r.src)
		r.srv.RevokeFamily(first.RefreshToken)
		r.expire()
		if _, err := w.token(r.src); !errors.Is(err, ErrReauthRequired) {
			t.Fatalf("err = %v, want ErrReauthRequired", err)
		}
		w.wantLogged("refresh failed")
	})

	t.Run("reuse detected", func(t *testing.T) {
		// Two machines hold copies of one token file and do not share a
		// lock: the second refresh replays the refresh token.
		w := newSecrecyWatch(t)
		r := secretRig(t, w, nil)
		copyPath := filepath.Join(t.TempDir(), "token.json")
		writeFile(t, copyPath, readFile(t, r.path))
		other := r.newSourceWith(r.srv.Config(), NewFileStore(copyPath))
		r.expire()
		mustWatchedToken(t, w, r.src)
		if _, err := w.token(other); !errors.Is(err, ErrReauthRequired) {
			t.Fatalf("err = %v, want ErrReauthRequired", err)
		}
		if n := r.srv.Stats().ReuseDetected; n != 1 {
			t.Fatalf("server detected reuse %d times, want 1", n)
		}
		w.addFile(r.path)
		w.addFile(copyPath)
		w.wantLogged("refresh failed")
	})

	t.Run("corrupt token file", func(t *testing.T) {
		w := newSecrecyWatch(t)
		r := secretRig(t, w, nil)
		good := readFile(t, r.path)
		var ft fileToken
		if err := json.Unmarshal(good, &ft); err != nil {
			t.Fatal(err)
		}
		for _, content := range []string{
			string(good[:bytes.Index(good, []byte(ft.RefreshToken))+len(ft.RefreshToken)/2]), // torn
			fmt.Sprintf(`{"access_token": %q, "expiry": %q}`, ft.AccessToken, ft.RefreshToken),
			fmt.Sprintf(`{"access_token": %q, "expires_in": %q}`, ft.AccessToken, ft.RefreshToken),
			fmt.Sprintf(`{"access_token": [%q], "refresh_token": %q}`, ft.AccessToken, ft.RefreshToken),
		} {
			writeFile(t, r.path, []byte(content))
			src := r.newSource(r.srv.Config())
			_, err := w.token(src)
			wantMessage(t, err, fmt.Sprintf("token file %q: the stored token is corrupt", r.path))
		}
		w.wantLogged("cannot load the stored token")
	})
}

// TestEndpointEchoesNoSecretIntoErrors has the token endpoint refuse a
// refresh with an error that echoes the refresh token it was sent, the
// client secret (as sent in the Basic header, and as is) and the access
// token that goes with the refresh token, in its error code, description
// and URI. No error or log record may show them.
func TestEndpointEchoesNoSecretIntoErrors(t *testing.T) {
	const secret = "cs/SECRET+client"
	login := &oauth2.Token{AccessToken: "at-SECRET-login", RefreshToken: "rt-SECRET-login", Expiry: time.Now().Add(-time.Minute)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, sentSecret, _ := r.BasicAuth()
		rt := r.PostFormValue("refresh_token")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{
			"error":             "bad_" + rt,
			"error_description": "bad refresh token " + rt + " " + sentSecret + " " + secret + " " + login.AccessToken + " " + r.Header.Get("Authorization"),
			"error_uri":         "https://as.example/errors?rt=" + rt + "&cs=" + sentSecret + "&at=" + login.AccessToken,
		})
	}))
	defer srv.Close()

	w := newSecrecyWatch(t)
	w.addToken(login)
	w.add(secret)
	w.add(url.QueryEscape(secret))
	conf := &oauth2.Config{ClientID: "client", ClientSecret: secret, Endpoint: oauth2.Endpoint{TokenURL: srv.URL}}
	w.add(base64.StdEncoding.EncodeToString([]byte(conf.ClientID + ":" + url.QueryEscape(secret)))) // the Basic credential
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, w.client())
	src := FromConfig(ctx, conf, storeWith(t, login), &Options{Logger: w.logger()})
	_, err := w.token(src)
	var ee *EndpointError
	if !errors.As(err, &ee) {
		t.Fatalf("err = %v, want an *EndpointError", err)
	}
	for _, field := range []string{ee.ErrorCode, ee.ErrorDescription, ee.ErrorURI} {
		if !strings.Contains(field, redacted) {
			t.Errorf("%q: no secret was redacted", field)
		}
	}
	w.wantLogged("refresh failed")
}

// lockElsewhere is a FileStore whose Locks go to another, failing
// FileStore.
type lockElsewhere struct {
	*FileStore
	lockOn *FileStore
}

func (s lockElsewhere) Lock(ctx context.Context) (func(), error) {
	return s.lockOn.Lock(ctx)
}

// saveElsewhere is a FileStore (with its Lock) whose saves go to another,
// failing FileStore.
type saveElsewhere struct {
	*FileStore
	saveTo *FileStore
}

func (s saveElsewhere) Save(ctx context.Context, tok *oauth2.Token) error {
	return s.saveTo.Save(ctx, tok)
}

// Put writes a token elsewhere too, since a Source saves through the
// Backend; an intent, which comes before the token request, goes to the
// store.
func (s saveElsewhere) Put(ctx context.Context, prev, data []byte) error {
	if rec, err := DecodeRecord(data); err == nil && rec.Intent != nil {
		return s.FileStore.Put(ctx, prev, data)
	}
	return s.saveTo.Put(ctx, prev, data)
}
