package tokensource

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/oauth2"
)

// sleepClock reads time.Now as a machine does after it slept: the wall
// clock moved on by the time slept, the monotonic clock, which stops while
// a machine sleeps (on Linux), did not.
type sleepClock struct {
	mu    sync.Mutex
	slept time.Duration
}

// timeLayout is the layout of a time.Time. When it has a monotonic
// reading, bit 63 of wall is set, bits 30 to 62 hold the wall seconds since
// 1885, and ext the monotonic reading.
type timeLayout struct {
	wall uint64
	ext  int64
	loc  *time.Location
}

// newSleepClock returns a sleepClock, after checking that it can build its
// times: no API moves the wall reading of a time without its monotonic one,
// so it is done by hand, and a change of time.Time's layout must fail the
// test rather than fake a pass.
func newSleepClock(t *testing.T) *sleepClock {
	t.Helper()
	now := time.Now()
	slept := afterSleep(now, time.Hour)
	if unsafe.Sizeof(now) != unsafe.Sizeof(timeLayout{}) || slept.Sub(now) != 0 || slept.Round(0).Sub(now.Round(0)) != time.Hour {
		t.Fatalf("cannot simulate a sleep: time.Time's layout changed (%v, %v)", now, slept)
	}
	return &sleepClock{}
}

// afterSleep returns now, which must carry a monotonic reading, with its
// wall reading moved on by d, in whole seconds.
func afterSleep(now time.Time, d time.Duration) time.Time {
	p := (*timeLayout)(unsafe.Pointer(&now))
	p.wall += uint64(d/time.Second) << 30
	return now
}

func (c *sleepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return afterSleep(time.Now(), c.slept)
}

func (c *sleepClock) Sleep(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept += d
}

// monotonic reports whether t carries a monotonic reading.
func monotonic(t time.Time) bool { return t != t.Round(0) }

// TestExpiryJudgedOnWallClockAfterSleep has a machine sleep for 8 hours
// with a 1-hour token: by the wall clock the token expired 7 hours ago, and
// must be refreshed, whether its Expiry came with a monotonic reading from
// the RefreshFunc (as x/oauth2's tokens do) or from expires_in and the
// Source's clock.
func TestExpiryJudgedOnWallClockAfterSleep(t *testing.T) {
	for name, expiry := range map[string]func(clock *sleepClock) (time.Time, int64){
		"Expiry from the clock": func(clock *sleepClock) (time.Time, int64) { return clock.Now().Add(time.Hour), 0 },
		"ExpiresIn":             func(*sleepClock) (time.Time, int64) { return time.Time{}, 3600 },
	} {
		t.Run(name, func(t *testing.T) {
			clock := newSleepClock(t)
			e := &fakeEndpoint{next: func(n int64, _ *oauth2.Token) (*oauth2.Token, error) {
				tok := &oauth2.Token{AccessToken: "a" + itoa(n), RefreshToken: "r"}
				tok.Expiry, tok.ExpiresIn = expiry(clock)
				return tok, nil
			}}
			s := New(e.refresh, storeWith(t, &oauth2.Token{RefreshToken: "r"}), &Options{Now: clock.Now, RefreshAhead: -1})
			mustToken(t, s, "a1")
			clock.Sleep(8 * time.Hour)
			mustToken(t, s, "a2")
			if n := e.calls.Load(); n != 2 {
				t.Errorf("RefreshFunc called %d times, want 2", n)
			}
		})
	}
}

// TestRefreshAheadJudgedOnWallClockAfterSleep wakes a machine inside the
// refresh-ahead window of its token by the wall clock: the token is served,
// and one refresh starts in the background.
func TestRefreshAheadJudgedOnWallClockAfterSleep(t *testing.T) {
	clock := newSleepClock(t)
	e := &fakeEndpoint{next: func(n int64, _ *oauth2.Token) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "a" + itoa(n), RefreshToken: "r", Expiry: clock.Now().Add(time.Hour)}, nil
	}}
	s := New(e.refresh, storeWith(t, &oauth2.Token{RefreshToken: "r"}), &Options{Now: clock.Now})
	mustToken(t, s, "a1")
	// 10s early expiry, 1m refresh-ahead: the window opens at 58m50s.
	clock.Sleep(59 * time.Minute)
	mustToken(t, s, "a1")
	s.waitIdle(t)
	if n := e.calls.Load(); n != 2 {
		t.Fatalf("RefreshFunc called %d times, want 2: one refresh ahead", n)
	}
	mustToken(t, s, "a2")
}

// TestNoTokenHandedOutCarriesMonotonicReading checks every way a token
// reaches callers: loaded from the store, and from the RefreshFunc, through
// Token and TokenContext.
func TestNoTokenHandedOutCarriesMonotonicReading(t *testing.T) {
	e := &fakeEndpoint{next: func(n int64, _ *oauth2.Token) (*oauth2.Token, error) {
		return &oauth2.Token{AccessToken: "a" + itoa(n), RefreshToken: "r", Expiry: time.Now().Add(time.Hour)}, nil
	}}
	st := storeWith(t, &oauth2.Token{AccessToken: "a0", RefreshToken: "r", Expiry: time.Now().Add(time.Hour)})
	s := New(e.refresh, st, nil)
	check := func(what string, tok *oauth2.Token, err error) {
		t.Helper()
		if err != nil || monotonic(tok.Expiry) {
			t.Errorf("%s: %v, %v; want an Expiry without a monotonic reading", what, tok, err)
		}
	}
	tok, err := s.Token()
	check("Token, stored token", tok, err)
	tok, err = s.TokenContext(context.Background())
	check("TokenContext, stored token", tok, err)
	tok, err = s.Refresh(context.Background())
	check("Refresh", tok, err)
	tok, err = s.TokenContext(context.Background())
	check("TokenContext, refreshed token", tok, err)
	if stored, _ := st.Load(context.Background()); monotonic(stored.Expiry) {
		t.Errorf("saved Expiry %v carries a monotonic reading", stored.Expiry)
	}
}

func TestWallNanosClampsToInt64(t *testing.T) {
	for _, tt := range []struct {
		t    time.Time
		want int64
	}{
		{time.Unix(0, 0), 0},
		{time.Unix(0, math.MaxInt64), math.MaxInt64},
		{time.Unix(0, math.MinInt64), math.MinInt64},
		{time.Date(2026, 1, 1, 0, 0, 0, 5, time.UTC), time.Date(2026, 1, 1, 0, 0, 0, 5, time.UTC).UnixNano()},
		{time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC), math.MaxInt64},
		{time.Time{}, math.MinInt64},
	} {
		if got := wallNanos(tt.t); got != tt.want {
			t.Errorf("wallNanos(%v) = %d, want %d", tt.t, got, tt.want)
		}
	}
}

func TestShortLivedTokenUsedForMostOfItsLife(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, 4*time.Second)}
	// 4s of life: the early expiry is capped at 1s, not the default 10s.
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(4 * time.Second)},
		&Options{RefreshAhead: -1})
	mustToken(t, s, "a0")

	clock.Advance(3*time.Second - time.Millisecond)
	if tok, err := s.Token(); err != nil || tok.AccessToken != "a0" {
		t.Fatalf("at 2.999s: %v, %v; want a0", tok, err)
	}
	clock.Advance(2 * time.Millisecond)
	if tok, err := s.Token(); err != nil || tok.AccessToken != "a1" {
		t.Fatalf("at 3.001s: %v, %v; want a1", tok, err)
	}
	if n := e.calls.Load(); n != 1 {
		t.Errorf("RefreshFunc called %d times, want 1", n)
	}
}

func TestStoredTokenLateInLifeKeepsItsEarlyExpiry(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, 4*time.Second)}
	// Issued for 4s, 2s left when loaded: the early expiry is a quarter of
	// the 4s, not of the 2s left.
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", ExpiresIn: 4, Expiry: clock.Now().Add(2 * time.Second)},
		&Options{RefreshAhead: -1})
	mustToken(t, s, "a0")

	clock.Advance(time.Second - time.Millisecond)
	if tok, err := s.Token(); err != nil || tok.AccessToken != "a0" {
		t.Fatalf("1s before expiry: %v, %v; want a0", tok, err)
	}
	clock.Advance(2 * time.Millisecond)
	if tok, err := s.Token(); err != nil || tok.AccessToken != "a1" {
		t.Fatalf("0.999s before expiry: %v, %v; want a1", tok, err)
	}
}

func TestEarlyExpiry(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Hour)},
		&Options{RefreshAhead: -1, EarlyExpiry: time.Minute})
	mustToken(t, s, "a0")

	clock.Advance(59*time.Minute - time.Millisecond)
	if tok, _ := s.Token(); tok.AccessToken != "a0" {
		t.Fatalf("before EarlyExpiry: got %s, want a0", tok.AccessToken)
	}
	clock.Advance(2 * time.Millisecond)
	if tok, _ := s.Token(); tok.AccessToken != "a1" {
		t.Fatalf("after EarlyExpiry: got %s, want a1", tok.AccessToken)
	}
}

func TestRefreshAheadNotBeforeHalfLife(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Minute), entered: make(chan struct{}, 1)}
	// 60s of life, 1m refresh-ahead: the window would open at once, but
	// opens only at 30s.
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(time.Minute)}, nil)
	mustToken(t, s, "a0")

	clock.Advance(30*time.Second - time.Millisecond)
	s.Token()
	s.waitIdle(t)
	if n := e.calls.Load(); n != 0 {
		t.Fatalf("refreshed ahead before half of the lifetime (%d calls)", n)
	}
	clock.Advance(2 * time.Millisecond)
	if tok, _ := s.Token(); tok.AccessToken != "a0" {
		t.Fatalf("got %s, want a0 while the refresh runs ahead", tok.AccessToken)
	}
	recv(t, e.entered)
}
