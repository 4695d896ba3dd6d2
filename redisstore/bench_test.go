package redisstore

import (
	"context"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
)

// A lockingStore is what a Source needs of a store to serialize refreshes.
type lockingStore interface {
	tokensource.Store
	tokensource.Locker
}

// BenchmarkRefresh measures what a store adds to one refresh: a forced
// Source.Refresh whose RefreshFunc returns at once, so that all the time is
// the store's (load, lock, load again, save, unlock). Side by side: a
// Store on the shared Redis server, a FileStore (which syncs every save to
// disk) and a MemoryStore (no lock, no I/O); redisstore-encrypted is the
// Store with an AES-GCM Encrypter, for the refresh cost of encryption.
// roundtrips/op counts the commands the Redis client sent.
func BenchmarkRefresh(b *testing.B) {
	ctx := context.Background()
	var n atomic.Int64
	refresh := func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		i := strconv.FormatInt(n.Add(1), 10)
		return &oauth2.Token{AccessToken: "a" + i, RefreshToken: "r" + i, Expiry: time.Now().Add(time.Hour)}, nil
	}
	client := newClient(b)
	commands := countCommands(client)
	enc, err := tokensource.NewAESGCM(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	stores := []struct {
		name  string
		store tokensource.Store
	}{
		{"redisstore", New(client, uniqueKey(b), nil)},
		{"redisstore-encrypted", New(client, uniqueKey(b)+":enc", &Options{Encrypter: enc})},
		{"filestore", tokensource.NewFileStore(filepath.Join(b.TempDir(), "token.json"))},
		{"memorystore", tokensource.NewMemoryStore()},
	}
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			src := tokensource.New(refresh, s.store, nil)
			if _, err := src.Refresh(ctx); err != nil {
				b.Fatal(err)
			}
			before := commands.Load()
			for b.Loop() {
				if _, err := src.Refresh(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(commands.Load()-before)/float64(b.N), "roundtrips/op")
		})
	}
}

// BenchmarkStoreCycle measures the four store calls of a refresh, Lock,
// Load, Save and unlock, against the same Redis server: through a Store
// (scripts for the lease, the compare-and-swap of the record, which reads
// it first, and the compare-and-delete) and through the plain commands
// such code is often written with (SET NX PX, GET, SET, DEL: no fence, and
// an unlock that deletes any holder's lease).
func BenchmarkStoreCycle(b *testing.B) {
	ctx := context.Background()
	client := newClient(b)
	commands := countCommands(client)
	key := uniqueKey(b)
	data, err := tokensource.MarshalToken(sampleToken("a1"))
	if err != nil {
		b.Fatal(err)
	}
	cycles := []struct {
		name  string
		cycle func() error
	}{
		{"redisstore", func() error {
			s := New(client, key, nil)
			unlock, err := s.Lock(ctx)
			if err != nil {
				return err
			}
			defer unlock()
			tok, err := s.Load(ctx)
			if err != nil {
				return err
			}
			return s.Save(ctx, tok)
		}},
		{"plain-commands", func() error {
			lock, tok := "{"+key+"}:plainlock", "{"+key+"}:token"
			for !client.SetNX(ctx, lock, "owner", DefaultLockTTL).Val() {
				time.Sleep(pollMin)
			}
			defer client.Del(ctx, lock)
			got, err := client.Get(ctx, tok).Bytes()
			if err != nil {
				return err
			}
			if _, err := tokensource.UnmarshalToken(got); err != nil {
				return err
			}
			return client.Set(ctx, tok, data, 0).Err()
		}},
	}
	if err := New(client, key, nil).Save(ctx, sampleToken("a1")); err != nil {
		b.Fatal(err)
	}
	for _, c := range cycles {
		b.Run(c.name, func(b *testing.B) {
			before := commands.Load()
			for b.Loop() {
				if err := c.cycle(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(commands.Load()-before)/float64(b.N), "roundtrips/op")
		})
	}
}

// BenchmarkLockHandoff measures how long a waiting Store takes to get the
// lock once its holder, another Store on another client (as in another
// process), releases it: from the call of unlock to the waiter's Lock
// returning. The holder keeps the lock for a while first, as a refresh
// does, so that the waiter is polling at its usual pace: 5 ms (as a cached
// token is adopted) and 100 ms (a token request). Side by side: two
// FileStores on one file (the lock another process's FileStore would wait
// for). handoff-ms is the mean; max-handoff-ms the longest.
func BenchmarkLockHandoff(b *testing.B) {
	client := newClient(b)
	key := uniqueKey(b)
	path := filepath.Join(b.TempDir(), "token.json")
	pairs := []struct {
		name           string
		holder, waiter lockingStore
	}{
		{"redisstore", New(client, key, nil), New(clientFor(b, redisAddr(b)), key, nil)},
		{"filestore", tokensource.NewFileStore(path), tokensource.NewFileStore(path)},
	}
	for _, held := range []time.Duration{5 * time.Millisecond, 100 * time.Millisecond} {
		for _, p := range pairs {
			b.Run("held="+held.String()+"/"+p.name, func(b *testing.B) {
				benchmarkHandoff(b, p.holder, p.waiter, held)
			})
		}
	}
}

func benchmarkHandoff(b *testing.B, holder, waiter lockingStore, held time.Duration) {
	ctx := context.Background()
	var total, longest time.Duration
	for b.Loop() {
		unlock, err := holder.Lock(ctx)
		if err != nil {
			b.Fatal(err)
		}
		got := make(chan time.Time)
		go func() {
			unlock, err := waiter.Lock(ctx)
			if err != nil {
				b.Error(err)
			}
			got <- time.Now()
			unlock()
		}()
		time.Sleep(held)
		released := time.Now()
		unlock()
		d := (<-got).Sub(released)
		total += d
		longest = max(longest, d)
	}
	b.ReportMetric(float64(total)/float64(b.N)/1e6, "handoff-ms")
	b.ReportMetric(float64(longest)/1e6, "max-handoff-ms")
	b.ReportMetric(0, "ns/op")
}

var _ redis.Hook = (*commandCounter)(nil)
