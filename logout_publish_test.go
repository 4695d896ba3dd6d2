package tokensource

import (
	"context"
	"errors"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestLogoutBetweenRefreshAndPublication logs out after a refresh gave the
// store back and before it published its token: the token is of the grant
// logged out, and neither that refresh's caller nor a later one gets it.
func TestLogoutBetweenRefreshAndPublication(t *testing.T) {
	clock := newTestClock()
	e := &fakeEndpoint{next: rotating(clock, time.Hour)}
	store := NewMemoryStore()
	if err := store.Save(context.Background(), &oauth2.Token{AccessToken: "a0", RefreshToken: "r0", Expiry: clock.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	s := New(e.refresh, store, &Options{Now: clock.Now})
	publishing, resume := make(chan struct{}), make(chan struct{})
	testHookPublishing = func() {
		close(publishing)
		<-resume
	}
	t.Cleanup(func() { testHookPublishing = func() {} })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		tok *oauth2.Token
		err error
	}
	refreshed := make(chan result, 1)
	go func() {
		tok, err := s.TokenContext(ctx)
		refreshed <- result{tok, err}
	}()
	<-publishing
	testHookPublishing = func() {}
	if err := s.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	close(resume)
	if r := <-refreshed; !errors.Is(r.err, ErrReauthRequired) {
		t.Errorf("the refresh's caller got %v, %v; want ErrReauthRequired: the grant was logged out", r.tok, r.err)
	}
	if tok, err := s.TokenContext(ctx); !errors.Is(err, ErrReauthRequired) {
		t.Errorf("after Logout, TokenContext = %v, %v; want ErrReauthRequired", tok, err)
	}
}
