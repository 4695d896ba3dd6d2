package otelsource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"
)

// account is the attribute the rig's Source reports with.
var account = attribute.String("account", "acme")

// A rig is a Source with the Hooks of a Telemetry on in-memory readers,
// refreshing at a tokensourcetest server through a client that notes
// every token value that goes over the wire, and storing its token in a
// FileStore whose saves can be made to fail.
type rig struct {
	t      *testing.T
	srv    *tokensourcetest.Server
	clock  *tokensourcetest.Clock
	store  *failingStore
	reject atomic.Bool // the resource's responses are 401 invalid_token
	logIn  atomic.Bool // the Source's Login gets a token from the server; it fails while unset
	src    *tokensource.Source
	other  *tokensource.Source // another process on the same token file, without hooks
	client *http.Client        // NewClient of src
	log    bytes.Buffer        // src's log, at debug level
	tel    *Telemetry

	reader *sdkmetric.ManualReader
	spans  *tracetest.SpanRecorder
	tracer trace.Tracer // for the callers' spans

	mu      sync.Mutex
	secrets map[string]bool
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, secrets: map[string]bool{}, reader: sdkmetric.NewManualReader(), spans: tracetest.NewSpanRecorder()}
	r.clock = tokensourcetest.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	r.srv = tokensourcetest.NewServer(&tokensourcetest.Options{Now: r.clock.Now})
	t.Cleanup(r.srv.Close)

	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.spans))
	t.Cleanup(func() {
		mp.Shutdown(context.Background())
		tp.Shutdown(context.Background())
	})
	r.tracer = tp.Tracer("test")
	tel, err := New(WithMeterProvider(mp), WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	r.tel = tel

	path := filepath.Join(t.TempDir(), "token.json")
	r.store = &failingStore{FileStore: tokensource.NewFileStore(path)}
	login := r.srv.Login()
	r.addToken(login)
	if err := r.store.Save(context.Background(), login); err != nil {
		t.Fatal(err)
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: noting{r}})
	logger := slog.New(slog.NewJSONHandler(&r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r.src = tokensource.FromConfig(ctx, r.srv.Config(), r.store, &tokensource.Options{
		Now: r.clock.Now, Logger: logger, Hooks: tel.Hooks(account), Login: r.login,
	})
	tel.Observe(r.src, account)
	r.other = tokensource.FromConfig(ctx, r.srv.Config(), tokensource.NewFileStore(path), &tokensource.Options{Now: r.clock.Now})
	r.client = tokensource.NewClient(ctx, r.src)
	return r
}

// login is the Source's Login: a user who logs in while r.logIn is set,
// and is not at the keyboard otherwise.
func (r *rig) login(context.Context) (*oauth2.Token, error) {
	if !r.logIn.Load() {
		return nil, errors.New("no user at the keyboard")
	}
	tok := r.srv.Login()
	r.addToken(tok)
	return tok, nil
}

// failingStore is a FileStore whose next failSaves saves fail.
type failingStore struct {
	*tokensource.FileStore
	failSaves atomic.Int64
}

func (s *failingStore) Save(ctx context.Context, tok *oauth2.Token) error {
	if s.failSaves.Add(-1) >= 0 {
		return errors.New("disk full")
	}
	s.failSaves.Store(0)
	return s.FileStore.Save(ctx, tok)
}

// Put fails as Save does for a record with a new token, since a Source
// saves through the Backend; an intent, written before the token request,
// goes through.
func (s *failingStore) Put(ctx context.Context, prev, data []byte) error {
	if rec, err := tokensource.DecodeRecord(data); err == nil && rec.Intent == nil {
		if s.failSaves.Add(-1) >= 0 {
			return errors.New("disk full")
		}
		s.failSaves.Store(0)
	}
	return s.FileStore.Put(ctx, prev, data)
}

// noting is http.DefaultTransport, whose idle connections the server's
// Close closes, noting the tokens of every request and response. While
// r.reject is set, it responds to the resource's requests with a 401 itself.
type noting struct{ r *rig }

func (n noting) RoundTrip(req *http.Request) (*http.Response, error) {
	if n.r.reject.Load() && req.URL.String() == n.r.srv.ResourceURL() {
		return &http.Response{
			StatusCode: http.StatusUnauthorized,
			Status:     "401 Unauthorized",
			Header:     http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}},
			Body:       http.NoBody,
			Request:    req,
		}, nil
	}
	if req.GetBody != nil {
		if body, err := req.GetBody(); err == nil {
			data, _ := io.ReadAll(body)
			n.r.addJSONOrForm(data)
		}
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	n.r.addJSONOrForm(data)
	resp.Body = io.NopCloser(bytes.NewReader(data))
	return resp, err
}

// addJSONOrForm notes the token fields of a JSON body or a form.
func (r *rig) addJSONOrForm(data []byte) {
	var m map[string]any
	if json.Unmarshal(data, &m) != nil {
		m = map[string]any{}
		for _, kv := range bytes.Split(data, []byte("&")) {
			if k, v, ok := bytes.Cut(kv, []byte("=")); ok {
				m[string(k)] = string(v)
			}
		}
	}
	for _, key := range []string{"access_token", "refresh_token"} {
		if s, ok := m[key].(string); ok {
			r.add(s)
		}
	}
}

func (r *rig) addToken(tok *oauth2.Token) {
	if tok != nil {
		r.add(tok.AccessToken)
		r.add(tok.RefreshToken)
	}
}

func (r *rig) add(secret string) {
	if secret == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets[secret] = true
}

func (r *rig) secretList() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var list []string
	for s := range r.secrets {
		list = append(list, s)
	}
	return list
}

// current returns the token src serves now, without a refresh.
func (r *rig) current() *oauth2.Token {
	r.t.Helper()
	tok, err := r.src.Token()
	if err != nil {
		r.t.Fatal(err)
	}
	r.addToken(tok)
	return tok
}

// get sends a GET to the resource in a caller's span named step, and
// returns that span's context and the response's status, or 0 for an error.
func (r *rig) get(step string) (trace.SpanContext, int) {
	r.t.Helper()
	ctx, span := r.tracer.Start(context.Background(), step)
	defer span.End()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.srv.ResourceURL(), nil)
	if err != nil {
		r.t.Fatal(err)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return span.SpanContext(), 0
	}
	resp.Body.Close()
	return span.SpanContext(), resp.StatusCode
}

// wantGet is get, failing the test unless the status is want.
func (r *rig) wantGet(step string, want int) trace.SpanContext {
	r.t.Helper()
	sc, status := r.get(step)
	if status != want {
		r.t.Fatalf("%s: status %d, want %d", step, status, want)
	}
	return sc
}

// collect returns the metrics collected now.
func (r *rig) collect() []metricdata.Metrics {
	r.t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		r.t.Fatal(err)
	}
	var ms []metricdata.Metrics
	for _, sm := range rm.ScopeMetrics {
		ms = append(ms, sm.Metrics...)
	}
	return ms
}

// refreshSpans returns the ended spans of refreshes, in the order they
// ended.
func (r *rig) refreshSpans() []sdktrace.ReadOnlySpan {
	var spans []sdktrace.ReadOnlySpan
	for _, s := range r.spans.Ended() {
		if s.Name() == "tokensource.refresh" {
			spans = append(spans, s)
		}
	}
	return spans
}
