package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
)

// requestTimeout bounds one API request, retry included. Requests are not
// cut off when a phase ends: workers stop between requests.
const requestTimeout = 10 * time.Second

// payload is the body of the POST requests. The protected resource responds
// with its size, which shows that a request sent again after a 401 arrives
// whole.
var payload = []byte(strings.Repeat("tokensource demo payload ", 40))

// clients holds the HTTP machinery of one process: one connection pool for
// the API, one for the token endpoint, so that refreshes never go through
// the API client.
type clients struct {
	api, token *http.Transport

	apiCtx   context.Context // for tokensource.NewClient
	tokenCtx context.Context // for tokensource.FromConfig
}

func newClients(workers int) *clients {
	api := http.DefaultTransport.(*http.Transport).Clone()
	api.MaxIdleConnsPerHost = workers + 4 // keep a connection per worker; the default 2 churns ports
	token := http.DefaultTransport.(*http.Transport).Clone()
	return &clients{
		api:      api,
		token:    token,
		apiCtx:   context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: rejectionCounter{api}}),
		tokenCtx: context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: token}),
	}
}

func (c *clients) close() {
	c.api.CloseIdleConnections()
	c.token.CloseIdleConnections()
}

// rejectionsKey is the context key of a request's count of 401 responses.
type rejectionsKey struct{}

// acceptedKey is the context key of a *string that receives the access
// token of the request, if the server accepted it.
type acceptedKey struct{}

// rejectionCounter sits under tokensource.Transport and counts, per
// request, the 401 responses the server gave, so that a request that
// succeeded after one counts as a recovered 401. It also hands the token a
// request carried to [acceptedToken].
type rejectionCounter struct{ base http.RoundTripper }

func (r rejectionCounter) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	ctx := req.Context()
	// A DPoP server's request for a nonce is no rejected token: the
	// Transport sends the request again with the nonce, at once.
	nonce := strings.Contains(resp.Header.Get("Www-Authenticate"), "use_dpop_nonce")
	if n, ok := ctx.Value(rejectionsKey{}).(*atomic.Int32); ok && resp.StatusCode == http.StatusUnauthorized && !nonce {
		n.Add(1)
	}
	if tok, ok := ctx.Value(acceptedKey{}).(*string); ok && resp.StatusCode == http.StatusOK {
		_, *tok, _ = strings.Cut(req.Header.Get("Authorization"), " ") // after "Bearer" or "DPoP"
	}
	return resp, err
}

// acceptedToken makes a request through client, and returns the access
// token the server accepted it with. By the time it returns, the
// client's Source knows the token works (tokensource.Source.Confirm).
func acceptedToken(client *http.Client, url string) (string, error) {
	var tok string
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), acceptedKey{}, &tok), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if tok == "" {
		return "", errors.New("the server accepted no token: " + resp.Status)
	}
	return tok, nil
}

// tally counts the outcomes of a workload's requests.
type tally struct {
	ok, failed atomic.Int64
	recovered  atomic.Int64 // requests that got a 401, then a 200 with a new token

	mu       sync.Mutex
	failures []string // the first few distinct reasons
}

const maxReasons = 5

func (t *tally) fail(reason string) {
	t.failed.Add(1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.failures) >= maxReasons {
		return
	}
	for _, r := range t.failures {
		if r == reason {
			return
		}
	}
	t.failures = append(t.failures, reason)
}

func (t *tally) reasons() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.failures...)
}

// work runs workers goroutines that call url through client until stop is
// closed, and waits for them to finish their last request.
func work(client *http.Client, url string, workers int, stop <-chan struct{}, t *tally) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				call(client, url, i%4 == 3, t)
				// A realistic client does something between calls; this
				// also leaves the CPU to the other process.
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	wg.Wait()
}

// resourceResponse is the protected resource's JSON response.
type resourceResponse struct {
	OK               bool   `json:"ok"`
	BodyBytes        *int   `json:"body_bytes"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// call makes one request, a GET or a POST with payload, and counts its
// outcome in t.
func call(client *http.Client, url string, post bool, t *tally) {
	var rejections atomic.Int32
	ctx, cancel := context.WithTimeout(context.WithValue(context.Background(), rejectionsKey{}, &rejections), requestTimeout)
	defer cancel()

	method, body := http.MethodGet, io.Reader(nil)
	if post {
		method, body = http.MethodPost, bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.fail(err.Error())
		return
	}
	resp, err := client.Do(req)
	if err != nil {
		t.fail(err.Error())
		return
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.fail("reading the response: " + err.Error())
		return
	}
	var ans resourceResponse
	if err := json.Unmarshal(data, &ans); err != nil {
		t.fail(resp.Status + " with a body that is not JSON")
		return
	}
	switch {
	case resp.StatusCode != http.StatusOK || !ans.OK:
		t.fail(strings.TrimSpace(resp.Status + " " + ans.Error + ": " + ans.ErrorDescription))
		return
	case post && (ans.BodyBytes == nil || *ans.BodyBytes != len(payload)):
		t.fail("the server got a damaged request body")
		return
	}
	t.ok.Add(1)
	if rejections.Load() > 0 {
		t.recovered.Add(1)
	}
}

// newLogger returns the logger of a Source: silent, or with -v a text log
// of its events to w, tagged with name. A Source never logs a token value.
func newLogger(verbose bool, w io.Writer, name string) *slog.Logger {
	if !verbose {
		return slog.New(slog.DiscardHandler)
	}
	h := slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{} // the demo's own lines carry the time
			}
			return a
		},
	})
	return slog.New(h).With("source", name)
}
