package redisstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// TestWorksOnRedisCluster runs the store on a one-node Redis Cluster, which
// refuses, as any cluster does, a script whose keys are in different slots
// (CROSSSLOT): the token key and the lease must share one.
func TestWorksOnRedisCluster(t *testing.T) {
	ctx := context.Background()
	srv := startPrivateServer(t, "--cluster-enabled", "yes", "--cluster-announce-ip", "127.0.0.1")
	admin := clientFor(t, srv.Addr)
	if err := admin.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", 0, 16383).Err(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(hangBound); !strings.Contains(admin.ClusterInfo(ctx).Val(), "cluster_state:ok"); {
		if time.Now().After(deadline) {
			t.Fatalf("the cluster is not ok after %v:\n%s", hangBound, admin.ClusterInfo(ctx).Val())
		}
		time.Sleep(50 * time.Millisecond)
	}
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{srv.Addr}})
	defer client.Close()
	exerciseStore(t, client)
}

// TestWorksWithSentinel runs the store through the failover client of
// redis.NewUniversalClient, which finds the primary through a Sentinel.
func TestWorksWithSentinel(t *testing.T) {
	primary := startPrivateServer(t)
	sentinel := startSentinel(t, "primary", primary)
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:      []string{sentinel.Addr},
		MasterName: "primary",
	})
	defer client.Close()
	exerciseStore(t, client)
}

// exerciseStore runs every script and command of a Store through client:
// a Save without and under a lease, a Load, a lease that another Store
// must wait for, and a Delete; then storetest's checks of a Backend and a
// Leaser, with leases short enough to be renewed during them.
func exerciseStore(t *testing.T, client redis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	key := uniqueKey(t)
	s := New(client, key, nil)
	mustSave(t, s, sampleToken("login"))
	unlock := mustLock(t, s)
	wantHeld(t, New(client, key, nil))
	mustSave(t, s, sampleToken("refreshed"))
	unlock()
	if got := mustLoad(t, s); got.AccessToken != "refreshed" {
		t.Errorf("Load: %q, want the refreshed token", got.AccessToken)
	}
	if err := s.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); !errors.Is(err, tokensource.ErrLoggedOut) {
		t.Errorf("Load after Delete: %v, want ErrLoggedOut", err)
	}
	storetest.TestBackend(t, func(t *testing.T) tokensource.Backend {
		return New(client, uniqueKey(t), nil)
	})
	storetest.TestLeaser(t, func(t *testing.T) tokensource.Leaser {
		return New(client, key+":"+t.Name(), &Options{LockTTL: time.Second})
	})
}
