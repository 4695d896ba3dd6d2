package tokensource

import (
	"context"
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
