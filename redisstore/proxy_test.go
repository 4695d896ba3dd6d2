package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest/netfault"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// startProxy starts a netfault proxy to target, closed when t ends: a
// link between a client and Redis that a test can stall, reset or refuse.
func startProxy(t testing.TB, target string) *netfault.Proxy {
	t.Helper()
	p, err := netfault.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestLeaseLostWhenLinkStalls holds a lease through a link that then
// stalls: the holder cannot renew, and its Lost closes by the end of its
// TTL; another Store, on a link of its own, takes the lease once the TTL
// has run out. Release on the stalled link returns at once.
func TestLeaseLostWhenLinkStalls(t *testing.T) {
	const ttl = 300 * time.Millisecond
	proxy := startProxy(t, redisAddr(t))
	key := uniqueKey(t)
	holder := New(clientFor(t, proxy.Addr()), key, &Options{LockTTL: ttl})
	lease := mustLease(t, holder)
	taken := time.Now()
	time.Sleep(ttl) // renewed meanwhile
	select {
	case <-lease.Lost():
		t.Fatalf("lost before the link stalled: %v", lease.Err())
	default:
	}

	proxy.Stall()
	stalled := time.Now()
	waitLost(t, lease, hangBound)
	if d := time.Since(stalled); d > ttl+slack {
		t.Errorf("the lease was lost %v after the link stalled; want within its TTL %v, plus %v", d, ttl, slack)
	}
	other := mustLease(t, New(newClient(t), key, nil))
	defer other.Release()
	t.Logf("held %v; lost %v after the link stalled; taken by another %v after the stall", stalled.Sub(taken).Round(time.Millisecond),
		time.Since(stalled).Round(time.Millisecond), time.Since(stalled).Round(time.Millisecond))

	start := time.Now()
	lease.Release()
	if d := time.Since(start); d > 10*time.Millisecond {
		t.Errorf("Release on a stalled link took %v", d)
	}
	proxy.Resume()
	wantHeld(t, New(newClient(t), key, nil)) // the stale release left the other's lease alone
}

// TestConformance runs storetest's checks of a Backend on a Store.
func TestConformance(t *testing.T) {
	client := newClient(t)
	storetest.TestBackend(t, func(t *testing.T) tokensource.Backend {
		return New(client, uniqueKey(t), nil)
	})
}

// TestLeaserConformance runs storetest's checks of a Leaser on Stores,
// each with a client of its own, as replicas have: one key per test.
func TestLeaserConformance(t *testing.T) {
	prefix := uniqueKey(t)
	storetest.TestLeaser(t, func(t *testing.T) tokensource.Leaser {
		return New(newClient(t), prefix+":"+t.Name(), nil)
	})
}

// TestLegacyValueLoads stores a token as an earlier version of the
// package did, the JSON of MarshalToken as a plain string under TokenKey,
// and loads it; a Save then replaces it with a record of generation 1.
func TestLegacyValueLoads(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	s := New(client, uniqueKey(t), nil)
	want := sampleToken("legacy")
	data, err := tokensource.MarshalToken(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Set(ctx, s.TokenKey(), data, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got := mustLoad(t, s); got.AccessToken != want.AccessToken || got.RefreshToken != want.RefreshToken || got.Extra("id_token") != want.Extra("id_token") {
		t.Errorf("Load of a legacy value: %+v", got)
	}
	mustSave(t, s, sampleToken("next"))
	rec, err := tokensource.DecodeRecord([]byte(client.Get(ctx, s.TokenKey()).Val()))
	if err != nil || rec.Generation != 1 || rec.Token.AccessToken != "next" {
		t.Errorf("after a Save over a legacy value: %+v, %v; want generation 1", rec, err)
	}
}

// TestDeleteDoesNotWaitForLease logs out while another Store holds the
// lease: Delete writes its tombstone by compare-and-swap at once.
func TestDeleteDoesNotWaitForLease(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	client := newClient(t)
	key := uniqueKey(t)
	s := New(client, key, nil)
	mustSave(t, s, sampleToken("a"))
	unlock := mustLock(t, New(client, key, nil))
	defer unlock()
	if err := s.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Load(ctx); !errors.Is(err, tokensource.ErrLoggedOut) {
		t.Errorf("Load after Delete: %v, want ErrLoggedOut", err)
	}
}
