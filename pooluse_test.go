package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

func newUsePool(t *testing.T, clock *tokensourcetest.Clock, idle time.Duration) *tokensource.Pool {
	t.Helper()
	return tokensource.NewPool(func(key string) *tokensource.Source {
		st := tokensource.NewMemoryStore()
		if err := st.Save(context.Background(), &oauth2.Token{AccessToken: "a-" + key, RefreshToken: "r-" + key, Expiry: clock.Now().Add(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		return tokensource.New(func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
			return nil, errors.New("no refresh expected")
		}, st, &tokensource.Options{Now: clock.Now, RefreshAhead: -1})
	}, &tokensource.PoolOptions{IdleTimeout: idle, Now: clock.Now})
}

// TestPoolKeepsSourceInUse is scenario 8 of issue 17: a Source held by a
// caller and used every IdleTimeout/2 is not dropped, while one not used
// is, with sweeps running all along.
func TestPoolKeepsSourceInUse(t *testing.T) {
	const idle = time.Minute
	clock := tokensourcetest.NewClock(epoch)
	pool := newUsePool(t, clock, idle)
	held := pool.Get("held")
	unused := pool.Get("unused")
	for i := range 6 { // 3 × IdleTimeout
		clock.Advance(idle / 2)
		if tok, err := held.TokenContext(context.Background()); err != nil || tok.AccessToken != "a-held" {
			t.Fatalf("step %d: TokenContext = %v, %v", i, tok, err)
		}
		pool.Get(fmt.Sprint("filler-", i)) // a Get that creates a Source sweeps
	}
	if got := pool.Get("held"); got != held {
		t.Fatal("the Source in use was dropped: Get returned a new one")
	}
	if got := pool.Get("unused"); got == unused {
		t.Fatal("the unused Source was kept: the sweep never ran, the test proves nothing")
	}
}

// TestPoolDeleteRetiresHeldSource is scenario 9 of issue 17: after
// Pool.Delete, a Source handed out earlier serves no token.
func TestPoolDeleteRetiresHeldSource(t *testing.T) {
	clock := tokensourcetest.NewClock(epoch)
	pool := newUsePool(t, clock, time.Minute)
	held := pool.Get("k")
	if _, err := held.Token(); err != nil {
		t.Fatal(err)
	}
	pool.Delete("k")
	for i := range 10 {
		if tok, err := held.TokenContext(context.Background()); !errors.Is(err, tokensource.ErrReauthRequired) {
			t.Fatalf("TokenContext %d = %v, %v; want ErrReauthRequired", i, tok, err)
		}
		if tok, err := held.Token(); !errors.Is(err, tokensource.ErrReauthRequired) {
			t.Fatalf("Token %d = %v, %v; want ErrReauthRequired", i, tok, err)
		}
	}
	if got := pool.Get("k"); got == held {
		t.Fatal("Get after Delete returned the retired Source")
	}
}
