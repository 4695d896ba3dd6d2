package redisstore

import (
	"context"
	"testing"
	"time"

	"github.com/oauthkit/tokensource"
)

// TestWaitWaitsForTheLeaseRelease stalls a replica's link to Redis right
// after its refresh saved the token, before it gives the lease back: the
// release, in the background, cannot reach Redis until the stall ends.
// Wait must return only once the lease key is gone; a process that exits
// on Wait's return would otherwise leave the others waiting for the
// lease's TTL.
func TestWaitWaitsForTheLeaseRelease(t *testing.T) {
	r := newFaultRig(t, nil)
	r.login()
	const stall = 300 * time.Millisecond
	var a *replica
	a = r.replica(10*time.Second, &tokensource.Options{Hooks: &tokensource.Hooks{
		Saved: func(context.Context, tokensource.SavedInfo) {
			a.proxy.Stall()
			time.AfterFunc(stall, a.proxy.Resume)
		},
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.src.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if err := a.src.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := r.raw.Exists(ctx, a.store.lockKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("Wait returned after %v with the lease key still in Redis", time.Since(began))
	}
}
