package tokensource

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// callerKey is the key of a value a caller puts in its context.
type callerKey struct{}

// callerCtx returns a context whose callerKey value is v.
func callerCtx(v string) context.Context {
	return context.WithValue(context.Background(), callerKey{}, v)
}

// ctxSeen notes the callerKey value of each context a step was given,
// and whether that context had already ended.
type ctxSeen struct {
	mu   sync.Mutex
	seen map[string][]string // step → values, in order
	done []string            // steps whose context had ended
}

func (c *ctxSeen) note(step string, ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string][]string{}
	}
	v, _ := ctx.Value(callerKey{}).(string)
	c.seen[step] = append(c.seen[step], v)
	if ctx.Err() != nil {
		c.done = append(c.done, step)
	}
}

// check fails t unless the steps named in want saw the values in want, and
// no step was given a context that had ended.
func (c *ctxSeen) check(t *testing.T, want map[string][]string) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	got := map[string][]string{}
	for step := range want {
		got[step] = c.seen[step]
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("values seen by each step (-want +got):\n%s", diff)
	}
	if len(c.done) != 0 {
		t.Errorf("steps given a context that had ended: %v", c.done)
	}
}

// seeingStore is a lockedStore that notes the context of each Load, Save
// and Lock.
type seeingStore struct {
	*lockedStore
	seen *ctxSeen
}

func (s seeingStore) Load(ctx context.Context) (*oauth2.Token, error) {
	s.seen.note("Load", ctx)
	return s.lockedStore.Load(ctx)
}

func (s seeingStore) Save(ctx context.Context, tok *oauth2.Token) error {
	s.seen.note("Save", ctx)
	return s.lockedStore.Save(ctx, tok)
}

func (s seeingStore) Lock(ctx context.Context) (func(), error) {
	s.seen.note("Lock", ctx)
	return s.lockedStore.Lock(ctx)
}

// seeingSource returns a Source on clock whose store holds tok, and whose
// RefreshFunc (e's), Store and Locker note their contexts in seen, with
// hooks (nil for none).
func seeingSource(t *testing.T, e *fakeEndpoint, clock *tokensourcetest.Clock, tok *oauth2.Token, seen *ctxSeen, hooks *Hooks) *Source {
	t.Helper()
	st := seeingStore{newLockedStore(storeWith(t, tok)), seen}
	refresh := func(ctx context.Context, cur *oauth2.Token) (*oauth2.Token, error) {
		seen.note("RefreshFunc", ctx)
		return e.refresh(ctx, cur)
	}
	return New(refresh, st, &Options{Now: clock.Now, Hooks: hooks})
}

func TestRefreshSeesTheCallersContextValues(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	seen := &ctxSeen{}
	s := seeingSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)}, seen, nil)

	if tok, err := s.TokenContext(callerCtx("first")); err != nil || tok.AccessToken != "a1" {
		t.Fatalf("TokenContext = %v, %v; want a1", tok, err)
	}
	seen.check(t, map[string][]string{
		"Load":        {"first", "first"}, // before the lock, and under it
		"Lock":        {"first"},
		"RefreshFunc": {"first"},
		"Save":        {"first"},
	})
}

func TestRefreshAheadSeesTheTriggeringCallersValues(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	seen := &ctxSeen{}
	s := seeingSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}, seen, nil)
	mustToken(t, s, "a0") // the first load, with no value

	clock.Advance(time.Hour - DefaultEarlyExpiry - DefaultRefreshAhead/2)
	if tok, err := s.TokenContext(callerCtx("ahead")); err != nil || tok.AccessToken != "a0" {
		t.Fatalf("inside the window: %v, %v; want a0", tok, err)
	}
	s.waitIdle(t)
	mustToken(t, s, "a1")
	seen.check(t, map[string][]string{
		"Load":        {"", "ahead", "ahead"}, // the first load, then the refresh ahead's
		"Lock":        {"ahead"},
		"RefreshFunc": {"ahead"},
		"Save":        {"ahead"},
	})
}

func TestStartingCallersCancelDoesNotReachTheRefresh(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour), entered: make(chan struct{}, 1), release: make(chan struct{})}
	seen := &ctxSeen{}
	s := seeingSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)}, seen, nil)

	ctx, cancel := context.WithCancel(callerCtx("starter"))
	starter := make(chan error)
	go func() {
		_, err := s.TokenContext(ctx)
		starter <- err
	}()
	recv(t, e.entered)
	cancel()
	if err := recv(t, starter); !errors.Is(err, context.Canceled) {
		t.Fatalf("the starting caller: err = %v, want context.Canceled", err)
	}
	// The refresh it started goes on, with its values: the fake endpoint
	// would fail with ctx.Err() had its context ended.
	close(e.release)
	mustToken(t, s, "a1")
	if st := s.Stats(); st.Refreshes != 1 || st.RefreshErrors != 0 || st.Saves != 1 {
		t.Errorf("Stats = %+v; want 1 refresh, no error, 1 save", st)
	}
	seen.check(t, map[string][]string{"RefreshFunc": {"starter"}, "Save": {"starter"}})
}

func TestTokenRefreshesWithoutCallerValues(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	seen := &ctxSeen{}
	s := seeingSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)}, seen, nil)
	mustToken(t, s, "a1")
	seen.check(t, map[string][]string{"RefreshFunc": {""}})
}

// ctxLog is a slog.Handler that notes, for each message, the callerKey
// value of the context it was logged with.
type ctxLog struct {
	mu   sync.Mutex
	seen map[string][]string
}

func (l *ctxLog) Enabled(context.Context, slog.Level) bool { return true }

func (l *ctxLog) Handle(ctx context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	v, _ := ctx.Value(callerKey{}).(string)
	l.seen[r.Message] = append(l.seen[r.Message], v)
	return nil
}

func (l *ctxLog) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *ctxLog) WithGroup(string) slog.Handler      { return l }

func TestRefreshLogsWithTheCallersContext(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: failing(errEndpoint)}
	logs := &ctxLog{seen: map[string][]string{}}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)},
		&Options{Logger: slog.New(logs)})
	if _, err := s.TokenContext(callerCtx("failing")); !errors.Is(err, errEndpoint) {
		t.Fatalf("err = %v, want the endpoint's", err)
	}
	clock.Advance(backoffMax)
	e.next = rotating(clock, time.Hour)
	if tok, err := s.TokenContext(callerCtx("working")); err != nil || tok.AccessToken != "a2" {
		t.Fatalf("TokenContext = %v, %v; want a2", tok, err)
	}
	want := map[string][]string{
		"tokensource: refresh failed": {"failing"},
		"tokensource: refreshed":      {"working"},
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if diff := cmp.Diff(want, logs.seen); diff != "" {
		t.Errorf("the context of each message (-want +got):\n%s", diff)
	}
}

func TestNilContextStartsARefreshAhead(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)}, nil)
	mustToken(t, s, "a0")
	clock.Advance(time.Hour - DefaultEarlyExpiry - DefaultRefreshAhead/2)
	var none context.Context // a caller's mistake, which must not end the program in the refresh's goroutine
	if tok, err := s.TokenContext(none); err != nil || tok.AccessToken != "a0" {
		t.Fatalf("TokenContext(nil) = %v, %v; want a0", tok, err)
	}
	s.waitIdle(t)
	mustToken(t, s, "a1")
}
