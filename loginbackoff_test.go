package tokensource

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// A flight whose refresh token is refused and whose login then fails has
// failed once, not twice: the backoff after it is that of one failure in
// a row, and so is the count in its log line.
func TestRefusedRefreshAndFailedLoginAreOneFailure(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: func(int64, *oauth2.Token) (*oauth2.Token, error) {
		return nil, fmt.Errorf("%w: refused", ErrReauthRequired)
	}}
	login := func(context.Context) (*oauth2.Token, error) { return nil, errors.New("the user closed the browser") }
	s, _ := newSource(t, e, clock, &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)},
		&Options{Login: login, LoginCooldown: -1})
	for round := 1; round <= 3; round++ {
		if _, err := s.Token(); !errors.Is(err, ErrReauthRequired) {
			t.Fatalf("round %d: %v, want ErrReauthRequired", round, err)
		}
		s.mu.Lock()
		n, retryAt := s.fail.n, s.fail.retryAt
		s.mu.Unlock()
		if n != round {
			t.Fatalf("round %d: %d failures in a row, want %d: one per flight", round, n, round)
		}
		// backoff(round) jitters down from this.
		if want := clock.Now().Add(min(backoffMin<<(round-1), backoffMax)); retryAt.After(want) {
			t.Fatalf("round %d: backoff until %v, want %v", round, retryAt, want)
		}
		clock.Advance(time.Hour) // past any backoff
	}
}
