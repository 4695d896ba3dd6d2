package tokensource

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// wait bounds every wait of a test for something that should happen at
// once: it only catches a hang.
const wait = 10 * time.Second

// newTestClock returns a clock the test moves by hand, at a time of its
// own.
func newTestClock() *tokensourcetest.Clock {
	return tokensourcetest.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
}

// fakeEndpoint is a fake token endpoint: a RefreshFunc that counts its calls,
// can be held until released, and responds through next.
type fakeEndpoint struct {
	calls   atomic.Int64
	entered chan struct{} // if not nil, receives once per call when it starts
	release chan struct{} // if not nil, each call waits for it (or its ctx)
	next    func(n int64, cur *oauth2.Token) (*oauth2.Token, error)
}

func (e *fakeEndpoint) refresh(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
	n := e.calls.Add(1)
	if e.entered != nil {
		e.entered <- struct{}{}
	}
	if e.release != nil {
		select {
		case <-e.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return e.next(n, cur)
}

// rotating responds to call n with access token "a<n>", refresh token "r<n>",
// living for life on clock.
func rotating(clock *tokensourcetest.Clock, life time.Duration) func(int64, *oauth2.Token) (*oauth2.Token, error) {
	return func(n int64, cur *oauth2.Token) (*oauth2.Token, error) {
		return &oauth2.Token{
			AccessToken:  "a" + itoa(n),
			RefreshToken: "r" + itoa(n),
			Expiry:       clock.Now().Add(life),
		}, nil
	}
}

func failing(err error) func(int64, *oauth2.Token) (*oauth2.Token, error) {
	return func(int64, *oauth2.Token) (*oauth2.Token, error) { return nil, err }
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

var errEndpoint = errors.New("endpoint down")

// failingRefresh is a RefreshFunc that fails with errEndpoint.
func failingRefresh(context.Context, *oauth2.Token) (*oauth2.Token, error) {
	return nil, errEndpoint
}

// noRefresh returns a RefreshFunc that fails t if it is called.
func noRefresh(t *testing.T) RefreshFunc {
	return func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		t.Error("refreshed")
		return nil, errors.New("no refresh expected")
	}
}

// storeWith returns a MemoryStore holding tok.
func storeWith(t *testing.T, tok *oauth2.Token) *MemoryStore {
	t.Helper()
	st := NewMemoryStore()
	if err := st.Save(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return st
}

// countingStore counts Load and Save calls, can fail saves, and records
// the access token of each token it saved.
type countingStore struct {
	Store
	loads, saves atomic.Int64
	failSaves    atomic.Int64 // the next this many saves fail

	mu    sync.Mutex
	saved []string // access tokens, in order
}

func (c *countingStore) Load(ctx context.Context) (*oauth2.Token, error) {
	c.loads.Add(1)
	return c.Store.Load(ctx)
}

func (c *countingStore) Save(ctx context.Context, tok *oauth2.Token) error {
	c.saves.Add(1)
	if c.failSaves.Add(-1) >= 0 {
		return errors.New("disk full")
	}
	c.failSaves.Store(0)
	if err := c.Store.Save(ctx, tok); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.saved = append(c.saved, tok.AccessToken)
	return nil
}

func (c *countingStore) savedTokens() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.saved...)
}

// lockedStore is a Store with an in-process Locker, standing in for a
// store shared between processes.
type lockedStore struct {
	Store
	sem chan struct{}
}

func newLockedStore(st Store) *lockedStore {
	return &lockedStore{Store: st, sem: make(chan struct{}, 1)}
}

func (l *lockedStore) Lock(ctx context.Context) (func(), error) {
	select {
	case l.sem <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-l.sem }) }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// waitIdle waits until s runs no flight, bounded.
func (s *Source) waitIdle(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := s.Wait(ctx); err != nil {
		t.Fatalf("the running refresh did not end: %v", err)
	}
}

// countWaiters makes testHookWaiting count callers that start waiting for
// a flight, until the test ends.
func countWaiters(t *testing.T) *atomic.Int64 {
	var n atomic.Int64
	testHookWaiting = func() { n.Add(1) }
	t.Cleanup(func() { testHookWaiting = func() {} })
	return &n
}

// awaitCount waits until c reaches want, bounded.
func awaitCount(t *testing.T, c *atomic.Int64, want int64) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for c.Load() < want {
		if time.Now().After(deadline) {
			t.Fatalf("count is %d, waited for %d", c.Load(), want)
		}
		time.Sleep(time.Millisecond)
	}
}

// recv receives from ch, bounded.
func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatal("timed out waiting on a channel")
		panic("unreachable")
	}
}

// boundedToken calls s.TokenContext with a context that ends after wait,
// and fails t if that context, not the refresh, ended the call.
func boundedToken(t *testing.T, s *Source) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, err := s.TokenContext(ctx)
	if err != nil && err == ctx.Err() {
		t.Fatalf("still waiting for the refresh after %v", wait)
	}
	return err
}

// mustToken calls s.Token and checks the access token it returns.
func mustToken(t *testing.T, s *Source, want string) *oauth2.Token {
	t.Helper()
	tok, err := s.Token()
	if err != nil || tok.AccessToken != want {
		t.Fatalf("Token() = %v, %v; want access token %q", tok, err, want)
	}
	return tok
}

// logRecorder is a slog.Handler that keeps the message of every record.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (r *logRecorder) logger() *slog.Logger { return slog.New(r) }

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, rec.Message)
	return nil
}

func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *logRecorder) WithGroup(string) slog.Handler      { return r }

// count returns how many messages contain substr.
func (r *logRecorder) count(substr string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, m := range r.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}
