package redisstore

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
)

// A's link to Redis goes down as its login begins and stays down for 3 s,
// so the login's save fails and A cannot renew its lease. B, which needs a
// token meanwhile, must not open a second login: A's lease outlives the
// outage, B waits for it, and adopts A's login, which A saves in the
// background once its link is back.
func TestStoreDownDuringLoginCostsNoSecondLogin(t *testing.T) {
	r := newFaultRig(t, nil)
	var logins atomic.Int32
	loggingIn := make(chan struct{})
	back := make(chan time.Time, 1)
	var a *replica
	loginA := func(context.Context) (*oauth2.Token, error) {
		logins.Add(1)
		a.proxy.Refuse(true)
		a.proxy.Reset()
		time.AfterFunc(3*time.Second, func() {
			a.proxy.Refuse(false)
			back <- time.Now()
		})
		close(loggingIn)
		return r.srv.Login(), nil
	}
	loginB := func(context.Context) (*oauth2.Token, error) {
		logins.Add(1)
		return r.srv.Login(), nil
	}
	a = r.replica(10*time.Second, &tokensource.Options{Login: loginA, RefreshTimeout: time.Second})
	b := r.replica(10*time.Second, &tokensource.Options{Login: loginB, RefreshTimeout: time.Second})

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	aTok, err := a.src.TokenContext(ctx)
	if err != nil {
		t.Fatalf("A, logging in with Redis down: %v; want the login's token served", err)
	}
	<-loggingIn
	bTok, err := b.src.TokenContext(ctx)
	if err != nil {
		t.Fatalf("B: %v", err)
	}
	recovery := time.Since(<-back)
	t.Logf("recovery: B had A's login %v after A's link was back", recovery)
	if recovery > 3*time.Second {
		// A's lease outlived the outage by 7 s: it was not given back
		// once A's save landed.
		t.Errorf("B waited %v after the outage, want A's lease given back as soon as A's save lands", recovery)
	}
	if n := logins.Load(); n != 1 {
		t.Fatalf("%d logins, want 1: B adopts A's", n)
	}
	if bTok.AccessToken != aTok.AccessToken {
		t.Fatal("B serves another token than A's login")
	}
	r.waitStored(aTok.RefreshToken, 10*time.Second)
	r.check(0)
}
