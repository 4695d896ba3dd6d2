package grpcsource_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/oauth"
	testpb "google.golang.org/grpc/interop/grpc_testing"
)

// call makes the i-th call of a worker: unary on even workers, a server
// stream of one message on odd ones.
func call(ctx context.Context, c testpb.TestServiceClient, worker int) error {
	if worker%2 == 0 {
		_, err := c.UnaryCall(ctx, &testpb.SimpleRequest{})
		return err
	}
	_, err := outputStream(ctx, c, outputRequest(1))
	return err
}

// 16 goroutines call without pause, unary calls and streams; one of them
// revokes the token in use halfway through, while the others' calls are in
// flight. Every call succeeds, and the Source refreshes once.
func TestRevocationUnderLoadCostsOneRefreshAndNoFailedCall(t *testing.T) {
	const workers, each = 16, 40
	r := newRig(t)
	var done, failed atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				if err := call(t.Context(), r.client, w); err != nil {
					failed.Add(1)
					t.Errorf("worker %d: %v", w, err)
				}
				if done.Add(1) == workers*each/2 {
					r.revoke(t)
				}
			}
		})
	}
	wg.Wait()

	if n := failed.Load(); n != 0 {
		t.Errorf("%d failed calls; want 0", n)
	}
	r.wantStats(t, 1, 1)
	if n := r.auth.Stats().Refreshes; n != 1 {
		t.Errorf("token endpoint served %d refreshes; want 1", n)
	}
	// Each rejected call was made once more: the revocation was felt.
	rejected := r.api.rejected.Load()
	if rejected == 0 || len(r.api.calls()) != workers*each+int(rejected) {
		t.Errorf("server got %d calls, %d rejected; want %d + the rejected ones, at least one",
			len(r.api.calls()), rejected, workers*each)
	}
}

// The calls after a revocation, by route: the interceptors recover with one
// refresh; per-RPC credentials alone never learn of the rejection, and
// every call fails until the token expires (an hour here). The figures are
// those of the README's table of routes.
func TestRoutesAfterRevocation(t *testing.T) {
	const workers, each = 16, 20
	for _, route := range []struct {
		name              string
		dial              func(r *rig) []grpc.DialOption // nil: the interceptors
		failed, refreshes int64
	}{
		{name: "grpcsource interceptors", failed: 0, refreshes: 1},
		{name: "oauth.TokenSource per-RPC credentials", dial: func(r *rig) []grpc.DialOption {
			return []grpc.DialOption{grpc.WithPerRPCCredentials(oauth.TokenSource{TokenSource: r.src})}
		}, failed: workers * each, refreshes: 0},
	} {
		t.Run(route.name, func(t *testing.T) {
			r := newRig(t)
			client := r.client
			if route.dial != nil {
				client = testpb.NewTestServiceClient(r.api.dial(t, r.src, route.dial(r)...))
			}
			if err := call(t.Context(), client, 0); err != nil {
				t.Fatal(err)
			}
			r.revoke(t)

			var failed atomic.Int64
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					for range each {
						if call(t.Context(), client, w) != nil {
							failed.Add(1)
						}
					}
				})
			}
			wg.Wait()
			refreshes := r.src.Stats().Refreshes
			t.Logf("%s: %d of %d calls failed after the revocation, %d refreshes", route.name, failed.Load(), workers*each, refreshes)
			if failed.Load() != route.failed || refreshes != route.refreshes {
				t.Errorf("failed calls, refreshes = %d, %d; want %d, %d", failed.Load(), refreshes, route.failed, route.refreshes)
			}
		})
	}
}
