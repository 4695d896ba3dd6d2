package tokensource_test

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"github.com/oauthkit/tokensource/tokensourcetest/netfault"
)

// TestDPoPNonceAcrossAStalledLink: 8 goroutines call a DPoP resource
// through a link that stalls for 1 s, while the server rotates its nonce.
// The requests held in the stall arrive with a nonce the server no longer
// takes: each is answered use_dpop_nonce, sent once more with the new
// nonce, and succeeds. No request fails, no proof is refused, and no
// token is invalidated.
func TestDPoPNonceAcrossAStalledLink(t *testing.T) {
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{DPoP: true})
	defer srv.Close()
	u, err := url.Parse(srv.ResourceURL())
	if err != nil {
		t.Fatal(err)
	}
	link, err := netfault.New(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer link.Close()
	u.Host = link.Addr()
	resource := u.String()

	ctx := context.Background()
	store := tokensource.NewMemoryStore()
	if err := store.Save(ctx, srv.Login()); err != nil {
		t.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), store, &tokensource.Options{DPoP: &tokensource.DPoPOptions{}})
	defer src.Wait(ctx)
	// The login's token is an unbound Bearer one; its first refresh binds
	// the grant to the Source's key.
	if tok, err := src.Refresh(ctx); err != nil || tok.TokenType != "DPoP" {
		t.Fatalf("Refresh = %v, %v; want a DPoP-bound token", tok, err)
	}
	client := tokensource.NewClient(ctx, src)
	if status, err := dpopGet(client, resource); err != nil || status != http.StatusOK {
		t.Fatalf("first request: %d, %v", status, err)
	}

	var tally requestTally
	var sinceStall atomic.Int64
	var stalled atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := 0; i < 10_000; i++ { // bounded: the stop ends it long before
				select {
				case <-stop:
					return
				default:
				}
				held := stalled.Load()
				if tally.get(client, resource) && held {
					sinceStall.Add(1)
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // requests flow
	link.Stall()
	stalled.Store(true)
	// One rotation: a request the server was reading as it rotated is
	// challenged with the new nonce, and its one retry must find it still
	// current.
	srv.RotateDPoPNonce()
	time.Sleep(time.Second) // the fault: requests held in the stall
	link.Resume()
	time.Sleep(300 * time.Millisecond) // requests flow again
	close(stop)
	wg.Wait()

	st := srv.Stats()
	t.Logf("%d ok (%d sent since the stall began), %d failed; server %+v", tally.ok.Load(), sinceStall.Load(), tally.failed.Load(), st)
	tally.check(t)
	if sinceStall.Load() == 0 {
		t.Error("no request sent since the stall began succeeded")
	}
	if st.DPoPProofsRejected != 0 {
		t.Errorf("%d proofs refused, want 0", st.DPoPProofsRejected)
	}
	if st.DPoPNonceChallenges == 0 {
		t.Error("no nonce challenge: the stalled requests did not carry the old nonce")
	}
	if n := src.Stats().Invalidations; n != 0 {
		t.Errorf("%d invalidations: a nonce challenge was taken for a rejected token", n)
	}
}
