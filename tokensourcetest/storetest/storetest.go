// Package storetest checks that a store keeps the contracts of
// [tokensource.Backend] and [tokensource.Leaser], as testing/fstest checks
// a file system: a store's own tests call [TestBackend] and [TestLeaser]
// with a function that makes a store on a fresh key, and keep only the
// tests of what is theirs alone (a cluster, a schema, a fault of their
// server).
//
//	func TestConformance(t *testing.T) {
//		storetest.TestBackend(t, func(t *testing.T) tokensource.Backend {
//			return mystore.New(client, uniqueKey(t))
//		})
//	}
//
// Every check runs as a subtest, so that -run selects one and a failure
// names it.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
)

// Slack is how long past its context's deadline a store's call may
// return: every call of a Backend or a Leaser returns by its ctx's deadline
// plus Slack, even against a server that never answers.
const Slack = 100 * time.Millisecond

// hangBound is how long the suite waits for what must happen before it
// calls it a hang. It is never how long something takes.
const hangBound = 30 * time.Second

// promptly is how soon a released lease must let a waiter in.
const promptly = 500 * time.Millisecond

// GoldenRecord is a record as [tokensource.EncodeRecord] wrote it in
// record_version 1, with every field set: a store keeps it byte for byte,
// and a later version of the package still reads it.
const GoldenRecord = `{
  "access_token": "at-golden",
  "token_type": "Bearer",
  "refresh_token": "rt-golden",
  "expiry": "2031-05-06T07:08:09.123456789+01:00",
  "expires_in": 3600,
  "id_token": "id-golden",
  "scope": "read write",
  "record_version": 1,
  "generation": 7,
  "intent": {
    "refresh": "f503433e92b41d0de30eceaed3281846",
    "since": "2031-05-06T07:00:00Z",
    "owner": "owner-1"
  }
}
`

// secret marks the token values the suite stores: no error may quote one.
const secret = "secret-"

// sampleToken returns a token with every field the stored format keeps,
// whose values start with secret and end with id.
func sampleToken(id string) *oauth2.Token {
	return (&oauth2.Token{
		AccessToken:  secret + "at-" + id,
		TokenType:    "Bearer",
		RefreshToken: secret + "rt-" + id,
		Expiry:       time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("", 3600)),
		ExpiresIn:    3600,
	}).WithExtra(map[string]any{"id_token": secret + "id-" + id, "scope": "read write"})
}

// encode returns the record of a token with the given generation.
func encode(t *testing.T, gen int64, id string) []byte {
	t.Helper()
	data, err := tokensource.EncodeRecord(&tokensource.Record{Generation: gen, Token: sampleToken(id)})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestBackend checks the [tokensource.Backend] that newBackend returns.
// Each call of newBackend must return a Backend on a fresh key, with
// nothing stored; the suite calls it once or more per subtest, with the
// subtest's t. It checks:
//
//   - Get on nothing stored fails with an error wrapping
//     [tokensource.ErrNotFound];
//   - Put(nil, a) stores a, which Get returns byte for byte, and Put(a, b)
//     replaces it;
//   - Put with a prev other than what is stored (stale, or nil when
//     something is stored) fails with an error wrapping
//     [tokensource.ErrConflict] and writes nothing;
//   - of goroutines that Put with the same prev at once, exactly one wins;
//   - records of [tokensource.EncodeRecord], [GoldenRecord] among them,
//     come back byte for byte, and the plain JSON of
//     [tokensource.MarshalToken] (what stores of earlier versions wrote)
//     loads through [tokensource.Records];
//   - Save, Load and Delete of tokensource.Records work on it, and Load
//     after Delete fails with an error wrapping [tokensource.ErrLoggedOut]
//     and ErrNotFound;
//   - no error quotes a token value;
//   - with a ctx that has ended, Get and Put return within [Slack], with an
//     error wrapping ctx.Err() or, for a store with nothing to wait for,
//     none.
func TestBackend(t *testing.T, newBackend func(t *testing.T) tokensource.Backend) {
	t.Run("GetEmpty", func(t *testing.T) {
		b := newBackend(t)
		data, err := b.Get(ctx(t))
		if !errors.Is(err, tokensource.ErrNotFound) {
			t.Fatalf("Get of nothing stored: %q, %v; want an error wrapping ErrNotFound", data, err)
		}
	})

	t.Run("PutGet", func(t *testing.T) {
		b := newBackend(t)
		a, c := encode(t, 1, "a"), encode(t, 2, "c")
		mustPut(t, b, nil, a)
		wantStored(t, b, a)
		mustPut(t, b, a, c)
		wantStored(t, b, c)
	})

	t.Run("StalePrev", func(t *testing.T) {
		b := newBackend(t)
		a, c, d := encode(t, 1, "a"), encode(t, 2, "c"), encode(t, 3, "d")
		mustPut(t, b, nil, a)
		mustPut(t, b, a, c)
		for name, prev := range map[string][]byte{
			"the replaced record":   a,
			"a record never stored": d,
			"empty, not nil":        {},
			"nil":                   nil,
		} {
			wantConflict(t, b.Put(ctx(t), prev, d), "Put with prev "+name)
			wantStored(t, b, c)
		}
	})

	t.Run("PutOnNothingStored", func(t *testing.T) {
		b := newBackend(t)
		a, c := encode(t, 1, "a"), encode(t, 2, "c")
		wantConflict(t, b.Put(ctx(t), a, c), "Put with a prev when nothing is stored")
		if data, err := b.Get(ctx(t)); !errors.Is(err, tokensource.ErrNotFound) {
			t.Fatalf("after a conflicting Put, Get: %q, %v; want ErrNotFound", data, err)
		}
	})

	t.Run("ConcurrentPuts", func(t *testing.T) {
		const goroutines, rounds = 8, 5
		b := newBackend(t)
		var prev []byte // nothing stored, in the first round
		ctx := ctx(t)
		for round := range rounds {
			var wg sync.WaitGroup
			errs := make([]error, goroutines)
			datas := make([][]byte, goroutines)
			for g := range goroutines {
				datas[g] = encode(t, int64(round+1), fmt.Sprintf("r%d-g%d", round, g))
				wg.Go(func() { errs[g] = b.Put(ctx, prev, datas[g]) })
			}
			wg.Wait()
			winner := -1
			for g, err := range errs {
				switch {
				case err == nil && winner >= 0:
					t.Fatalf("round %d: goroutines %d and %d both won a Put with the same prev", round, winner, g)
				case err == nil:
					winner = g
				case !errors.Is(err, tokensource.ErrConflict):
					t.Fatalf("round %d: a losing Put: %v; want an error wrapping ErrConflict", round, err)
				}
			}
			if winner < 0 {
				t.Fatalf("round %d: no Put of %d won", round, goroutines)
			}
			wantStored(t, b, datas[winner])
			prev = datas[winner]
		}
	})

	t.Run("GoldenRecords", func(t *testing.T) {
		tomb, err := tokensource.EncodeRecord(&tokensource.Record{Generation: 9, LoggedOut: true})
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string][]byte{
			"GoldenRecord": []byte(GoldenRecord),
			"EncodeRecord": encode(t, 1, "ünïcödé\u2028\x00"),
			"a tombstone":  tomb,
		} {
			t.Run(name, func(t *testing.T) {
				b := newBackend(t)
				mustPut(t, b, nil, data)
				wantStored(t, b, data)
			})
		}
		b := newBackend(t)
		mustPut(t, b, nil, []byte(GoldenRecord))
		tok, err := tokensource.Records{Backend: b, Where: "the backend under test"}.Load(ctx(t))
		if err != nil {
			t.Fatalf("Load of GoldenRecord: %v", err)
		}
		if tok.AccessToken != "at-golden" || tok.RefreshToken != "rt-golden" || tok.Extra("id_token") != "id-golden" {
			t.Errorf("Load of GoldenRecord: %+v", tok)
		}
	})

	t.Run("LegacyToken", func(t *testing.T) {
		want := sampleToken("legacy")
		marshalled, err := tokensource.MarshalToken(want)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := json.Marshal(want) // what an x/oauth2 program writes
		if err != nil {
			t.Fatal(err)
		}
		for name, data := range map[string][]byte{"MarshalToken": marshalled, "json.Marshal": plain} {
			t.Run(name, func(t *testing.T) {
				b := newBackend(t)
				mustPut(t, b, nil, data)
				got, err := tokensource.Records{Backend: b, Where: "the backend under test"}.Load(ctx(t))
				if err != nil {
					t.Fatalf("Load of a plain token: %v", err)
				}
				wantToken(t, got, want, name == "MarshalToken")
			})
		}
	})

	t.Run("Records", func(t *testing.T) {
		b := newBackend(t)
		r := tokensource.Records{Backend: b, Where: "the backend under test"}
		for i, id := range []string{"one", "two"} {
			if err := r.Save(ctx(t), sampleToken(id)); err != nil {
				t.Fatalf("Save: %v", err)
			}
			got, err := r.Load(ctx(t))
			if err != nil {
				t.Fatalf("Load after Save: %v", err)
			}
			wantToken(t, got, sampleToken(id), true)
			if gen := generation(t, b); gen != int64(i+1) {
				t.Errorf("after Save %d, generation %d; want %d", i+1, gen, i+1)
			}
		}
		if err := r.Delete(ctx(t)); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		_, err := r.Load(ctx(t))
		if !errors.Is(err, tokensource.ErrLoggedOut) || !errors.Is(err, tokensource.ErrNotFound) {
			t.Fatalf("Load after Delete: %v; want an error wrapping ErrLoggedOut and ErrNotFound", err)
		}
		if gen := generation(t, b); gen != 3 {
			t.Errorf("after Delete, generation %d; want 3", gen)
		}
		if err := r.Save(ctx(t), sampleToken("three")); err != nil {
			t.Fatalf("Save after Delete: %v", err)
		}
		if _, err := r.Load(ctx(t)); err != nil {
			t.Fatalf("Load after a Save after Delete: %v", err)
		}
	})

	t.Run("LoginCooldown", func(t *testing.T) {
		// What a Source writes after a failed login on an empty store:
		// nothing stored but the cooldown, which others must see.
		b := newBackend(t)
		retryAt := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		data, err := tokensource.EncodeRecord(&tokensource.Record{Generation: 1, LoginRetryAt: retryAt})
		if err != nil {
			t.Fatal(err)
		}
		mustPut(t, b, nil, data)
		got, err := b.Get(ctx(t))
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		rec, err := tokensource.DecodeRecord(got)
		if err != nil || !rec.LoginRetryAt.Equal(retryAt) || rec.Token != nil || rec.LoggedOut {
			t.Fatalf("the record read back: %+v, %v; want only the cooldown until %v", rec, err, retryAt)
		}
		_, err = tokensource.Records{Backend: b, Where: "the backend under test"}.Load(ctx(t))
		if !errors.Is(err, tokensource.ErrNotFound) || errors.Is(err, tokensource.ErrLoggedOut) {
			t.Fatalf("Load of a cooldown: %v; want ErrNotFound, not ErrLoggedOut", err)
		}
	})

	t.Run("ErrorsHoldNoTokens", func(t *testing.T) {
		b := newBackend(t)
		a := encode(t, 1, "a")
		mustPut(t, b, nil, a)
		wantNoSecret(t, b.Put(ctx(t), nil, encode(t, 2, "conflict")), "a conflicting Put")
		wantNoSecret(t, b.Put(ctx(t), encode(t, 1, "stale"), encode(t, 2, "conflict")), "a conflicting Put")
		done := ended()
		_, err := b.Get(done)
		wantNoSecretIfAny(t, err, "Get with an ended ctx")
		wantNoSecretIfAny(t, b.Put(done, a, encode(t, 2, "late")), "Put with an ended ctx")

		c := newBackend(t)
		mustPut(t, c, nil, []byte(`{"access_token": "`+secret+`torn", "expiry": "`+secret+`not-a-time"}`))
		_, err = tokensource.Records{Backend: c, Where: "the backend under test"}.Load(ctx(t))
		if !errors.Is(err, tokensource.ErrCorrupt) {
			t.Fatalf("Load of a corrupt record: %v; want ErrCorrupt", err)
		}
		wantNoSecret(t, err, "Load of a corrupt record")
	})

	t.Run("EndedContext", func(t *testing.T) {
		for name, newCtx := range map[string]func() (context.Context, error){
			"cancelled": func() (context.Context, error) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, context.Canceled
			},
			"past its deadline": func() (context.Context, error) {
				ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
				t.Cleanup(cancel)
				return ctx, context.DeadlineExceeded
			},
		} {
			t.Run(name, func(t *testing.T) {
				b := newBackend(t)
				a := encode(t, 1, "a")
				mustPut(t, b, nil, a)
				ctx, cause := newCtx()
				start := time.Now()
				_, err := b.Get(ctx)
				wantEnded(t, "Get", err, cause, time.Since(start))
				start = time.Now()
				err = b.Put(ctx, a, encode(t, 2, "late"))
				wantEnded(t, "Put", err, cause, time.Since(start))
			})
		}
	})
}

// TestLeaser checks the [tokensource.Leaser] that newLeaser returns. All
// the Leasers newLeaser returns for one t must lock the same thing (for a
// store: a new Store on the same key, as another process would have), and
// those for different t's different things, so that each subtest starts
// with the lock free. It checks:
//
//   - of goroutines that take leases in turn, through one Leaser and
//     through Leasers of their own, no two hold one at once, and every
//     one gets its turn;
//   - Release twice is harmless: the second call does not release the
//     lease of the next holder;
//   - a Lease on a held lock waits no longer than its ctx, plus [Slack],
//     and fails with an error wrapping ctx.Err();
//   - a released lease lets a waiter in promptly, and a lease held for a
//     while is not lost.
func TestLeaser(t *testing.T, newLeaser func(t *testing.T) tokensource.Leaser) {
	t.Run("Exclusion", func(t *testing.T) {
		const goroutines, rounds = 8, 5
		shared := newLeaser(t)
		leasers := make([]tokensource.Leaser, goroutines)
		for g := range leasers {
			leasers[g] = shared
			if g%2 == 1 {
				leasers[g] = newLeaser(t)
			}
		}
		var inside, most, held atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		ctx := ctx(t)
		for _, l := range leasers {
			wg.Go(func() {
				for range rounds {
					lease, err := l.Lease(ctx)
					if err != nil {
						errs <- err
						return
					}
					n := inside.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					held.Add(1)
					time.Sleep(time.Millisecond) // a moment for another holder to overlap
					inside.Add(-1)
					lease.Release()
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("Lease: %v", err)
		}
		if m := most.Load(); m > 1 {
			t.Errorf("%d holders at once", m)
		}
		if n := held.Load(); n != goroutines*rounds && !t.Failed() {
			t.Errorf("%d leases held; want %d", n, goroutines*rounds)
		}
	})

	t.Run("ReleaseTwice", func(t *testing.T) {
		first := mustLease(t, newLeaser(t))
		first.Release()
		first.Release()
		next := mustLease(t, newLeaser(t))
		defer next.Release()
		first.Release()
		wantHeld(t, newLeaser(t))
	})

	t.Run("WaitBoundedByContext", func(t *testing.T) {
		holder := newLeaser(t)
		held := mustLease(t, holder)
		defer held.Release()
		for _, l := range []tokensource.Leaser{newLeaser(t), holder} {
			for name, newCtx := range map[string]func() (context.Context, context.CancelFunc, error){
				"deadline": func() (context.Context, context.CancelFunc, error) {
					ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
					return ctx, cancel, context.DeadlineExceeded
				},
				"cancel": func() (context.Context, context.CancelFunc, error) {
					ctx, cancel := context.WithCancel(context.Background())
					time.AfterFunc(200*time.Millisecond, cancel)
					return ctx, cancel, context.Canceled
				},
			} {
				ctx, cancel, cause := newCtx()
				start := time.Now()
				lease, err := l.Lease(ctx)
				took := time.Since(start)
				cancel()
				if err == nil {
					lease.Release()
					t.Fatalf("%s: Lease on a held lock succeeded", name)
				}
				if !errors.Is(err, cause) {
					t.Errorf("%s: Lease: %v; want an error wrapping %v", name, err, cause)
				}
				if took > 200*time.Millisecond+Slack {
					t.Errorf("%s: Lease returned %v after it began; its ctx ended after 200ms", name, took)
				}
			}
		}
	})

	t.Run("Handoff", func(t *testing.T) {
		holder := mustLease(t, newLeaser(t))
		waiter := newLeaser(t)
		type result struct {
			lease tokensource.Lease
			err   error
			at    time.Time
		}
		got := make(chan result, 1)
		go func() {
			lease, err := waiter.Lease(ctx(t))
			got <- result{lease, err, time.Now()}
		}()
		select {
		case r := <-got:
			if r.err == nil {
				r.lease.Release()
			}
			t.Fatalf("Lease on a held lock returned (%v)", r.err)
		case <-time.After(500 * time.Millisecond): // a lease kept that long
		}
		select {
		case <-holder.Lost():
			t.Fatal("a lease held for 500ms was lost")
		default:
		}
		released := time.Now()
		holder.Release()
		r := <-got
		if r.err != nil {
			t.Fatalf("Lease after the holder released: %v", r.err)
		}
		defer r.lease.Release()
		if d := r.at.Sub(released); d > promptly {
			t.Errorf("the waiter got the lease %v after the holder released it; want it within %v", d, promptly)
		}
	})
}

// ctx returns a context that ends when t does, or after hangBound.
func ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), hangBound)
	t.Cleanup(cancel)
	return ctx
}

// ended returns a context that has ended.
func ended() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func mustPut(t *testing.T, b tokensource.Backend, prev, data []byte) {
	t.Helper()
	if err := b.Put(ctx(t), prev, data); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

// wantStored fails t unless b holds want, byte for byte.
func wantStored(t *testing.T, b tokensource.Backend, want []byte) {
	t.Helper()
	got, err := b.Get(ctx(t))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get returned\n%q\nwant\n%q", got, want)
	}
}

// generation returns the generation of the record b holds.
func generation(t *testing.T, b tokensource.Backend) int64 {
	t.Helper()
	data, err := b.Get(ctx(t))
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	r, err := tokensource.DecodeRecord(data)
	if err != nil {
		t.Fatalf("the stored record: %v", err)
	}
	return r.Generation
}

func wantConflict(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, tokensource.ErrConflict) {
		t.Fatalf("%s: %v; want an error wrapping ErrConflict", what, err)
	}
	wantNoSecret(t, err, what)
}

func wantNoSecret(t *testing.T, err error, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	wantNoSecretIfAny(t, err, what)
}

func wantNoSecretIfAny(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), secret) {
		t.Errorf("%s: the error quotes a token value: %v", what, err)
	}
}

// wantEnded checks the outcome of a call with a ctx that had ended.
func wantEnded(t *testing.T, call string, err, cause error, took time.Duration) {
	t.Helper()
	if took > Slack {
		t.Errorf("%s with an ended ctx returned after %v; want within %v", call, took, Slack)
	}
	if err != nil && !errors.Is(err, cause) {
		t.Errorf("%s with an ended ctx: %v; want an error wrapping %v", call, err, cause)
	}
}

// wantToken fails t unless got holds want's fields; extras says whether
// the stored format kept the id_token and scope.
func wantToken(t *testing.T, got, want *oauth2.Token, extras bool) {
	t.Helper()
	if got.AccessToken != want.AccessToken || got.TokenType != want.TokenType ||
		got.RefreshToken != want.RefreshToken || !got.Expiry.Equal(want.Expiry) || got.ExpiresIn != want.ExpiresIn {
		t.Errorf("loaded token %+v; want %+v", got, want)
	}
	if extras {
		for _, k := range []string{"id_token", "scope"} {
			if got.Extra(k) != want.Extra(k) {
				t.Errorf("loaded Extra(%q) = %v; want %v", k, got.Extra(k), want.Extra(k))
			}
		}
	}
}

func mustLease(t *testing.T, l tokensource.Leaser) tokensource.Lease {
	t.Helper()
	lease, err := l.Lease(ctx(t))
	if err != nil {
		t.Fatalf("Lease: %v", err)
	}
	return lease
}

// wantHeld fails t if l can take its lease within a short while.
func wantHeld(t *testing.T, l tokensource.Leaser) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if lease, err := l.Lease(ctx); err == nil {
		lease.Release()
		t.Fatal("the lock was free; want it held")
	}
}
