package tokensource

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// TestJoinHooks joins two tallies and a hook set that panics in between:
// both tallies see every call, and add up to the Source's Stats; the panic
// is logged once per call, not lost, and stops nothing.
func TestJoinHooks(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	a, b := &hookTally{t: t}, &hookTally{t: t}
	panicky := &Hooks{RefreshDone: func(context.Context, RefreshDoneInfo) { panic("observer broke") }}
	logs := &logRecorder{}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)},
		&Options{Hooks: JoinHooks(a.hooks(), nil, panicky, b.hooks()), Logger: logs.logger()})
	mustToken(t, s, "a1")
	s.InvalidateContext(callerCtx("x"), mustToken(t, s, "a1"))
	mustToken(t, s, "a2")

	for name, h := range map[string]*hookTally{"first": a, "last": b} {
		if diff := cmp.Diff(s.Stats(), h.stats()); diff != "" {
			t.Errorf("%s hooks: Stats (-Source +hooks):\n%s", name, diff)
		}
		if diff := cmp.Diff([]string{"missing/refreshed", "rejected/refreshed"}, h.ends()); diff != "" {
			t.Errorf("%s hooks: refreshes (-want +got):\n%s", name, diff)
		}
	}
	if n := logs.count("the RefreshDone hook panicked"); n != 2 {
		t.Errorf("%d logged panics of RefreshDone, want 2", n)
	}
}

// RefreshStart hooks are chained: the second sees the context the first
// returned, one that returns nil keeps it, and the refresh runs under the
// last one.
func TestJoinHooksChainsRefreshStart(t *testing.T) {
	type key string
	first := &Hooks{RefreshStart: func(ctx context.Context, _ RefreshStartInfo) context.Context {
		return context.WithValue(ctx, key("first"), "set")
	}}
	none := &Hooks{RefreshStart: func(context.Context, RefreshStartInfo) context.Context { return nil }}
	second := &Hooks{RefreshStart: func(ctx context.Context, _ RefreshStartInfo) context.Context {
		return context.WithValue(ctx, key("second"), "after "+fmt.Sprint(ctx.Value(key("first"))))
	}}
	var mu sync.Mutex
	var seen []any
	saw := &Hooks{TokenRequest: func(ctx context.Context) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, ctx.Value(key("first")), ctx.Value(key("second")))
	}}
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)},
		&Options{Hooks: JoinHooks(first, none, second, saw)})
	mustToken(t, s, "a1")
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]any{"set", "after set"}, seen); diff != "" {
		t.Errorf("values in the refresh's context (-want +got):\n%s", diff)
	}
}

func TestJoinHooksOfNoneOrOne(t *testing.T) {
	h := &Hooks{Saved: func(context.Context, SavedInfo) {}}
	if got := JoinHooks(); got != nil {
		t.Errorf("JoinHooks() = %v, want nil", got)
	}
	if got := JoinHooks(nil, nil); got != nil {
		t.Errorf("JoinHooks(nil, nil) = %v, want nil", got)
	}
	if got := JoinHooks(nil, h); got != h {
		t.Errorf("JoinHooks(nil, h) = %p, want h itself, %p", got, h)
	}
	// Fields that no element sets stay nil, and cost nothing.
	j := JoinHooks(h, &Hooks{TokenRequest: func(context.Context) {}})
	if j.Saved == nil || j.TokenRequest == nil || j.RefreshStart != nil || j.RefreshDone != nil || j.Invalidated != nil || j.Unauthorized != nil {
		t.Errorf("joined fields: %+v; want Saved and TokenRequest only", j)
	}
}

// TestRejectedReportsToTheUnauthorizedHook: a client other than the
// Transport reports a rejection with Rejected; the hook gets its ctx, and
// the outcome, given or worked out as for HTTP.
func TestRejectedReportsToTheUnauthorizedHook(t *testing.T) {
	var got []string
	hooks := &Hooks{Unauthorized: func(ctx context.Context, info UnauthorizedInfo) {
		got = append(got, fmt.Sprintf("%v %s", ctx.Value(callerKey{}), info.Outcome))
	}}
	s := New((&fakeEndpoint{}).refresh, nil, &Options{Hooks: hooks})
	s.Rejected(callerCtx("grpc"), UnauthorizedInfo{Retried: true, Outcome: RejectionRejected})
	s.Rejected(callerCtx("retry failed"), UnauthorizedInfo{Retried: true})
	s.Rejected(callerCtx("returned"), UnauthorizedInfo{StatusCode: 401})
	s.Rejected(callerCtx("recovered"), UnauthorizedInfo{Retried: true, StatusCode: 404})
	want := []string{"grpc rejected", "retry failed error", "returned returned", "recovered recovered"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Unauthorized calls (-want +got):\n%s", diff)
	}
	// Without the hook, nothing happens.
	New((&fakeEndpoint{}).refresh, nil, nil).Rejected(context.Background(), UnauthorizedInfo{})
}
