package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"
)

// slack is how long past its ctx's deadline a call of a Store may return.
const slack = 100 * time.Millisecond

// TestCallsBoundedBySilentServer calls every method of a Store that talks
// to Redis with a 200ms deadline, against a server that accepts
// connections and never answers (Redis behind a stalled proxy, which
// accepts connections and carries nothing), through a client with
// go-redis's default options (ContextTimeoutEnabled off) and one with it
// on: each returns by the deadline plus slack, with an error wrapping
// DeadlineExceeded.
func TestCallsBoundedBySilentServer(t *testing.T) {
	const deadline = 200 * time.Millisecond
	for _, ctxTimeout := range []bool{false, true} {
		name := "ContextTimeoutEnabled=false"
		if ctxTimeout {
			name = "ContextTimeoutEnabled=true"
		}
		t.Run(name, func(t *testing.T) {
			silent := startProxy(t, redisAddr(t))
			silent.Stall()
			client := clientWith(t, &redis.Options{Addr: silent.Addr(), ContextTimeoutEnabled: ctxTimeout})
			s := New(client, uniqueKey(t), nil)
			tok := &oauth2.Token{AccessToken: "secret-a", RefreshToken: "secret-r"}
			for _, c := range []struct {
				name string
				f    func(context.Context) error
			}{
				{"Load", func(ctx context.Context) error { _, err := s.Load(ctx); return err }},
				{"Save", func(ctx context.Context) error { return s.Save(ctx, tok) }},
				{"Delete", func(ctx context.Context) error { return s.Delete(ctx) }},
				{"Put", func(ctx context.Context) error { return s.Put(ctx, nil, []byte("{}")) }},
				{"Lease", func(ctx context.Context) error {
					l, err := s.Lease(ctx)
					if err == nil {
						l.Release()
					}
					return err
				}},
				{"Lock", func(ctx context.Context) error {
					unlock, err := s.Lock(ctx)
					if err == nil {
						unlock()
					}
					return err
				}},
			} {
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				start := time.Now()
				err := c.f(ctx)
				took := time.Since(start)
				cancel()
				t.Logf("%s returned after %v (%v past the deadline): %v", c.name, took.Round(time.Millisecond), (took - deadline).Round(time.Millisecond), err)
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s: %v; want an error wrapping DeadlineExceeded", c.name, err)
				}
				if took > deadline+slack {
					t.Errorf("%s returned %v after it began; its ctx ended after %v", c.name, took, deadline)
				}
			}
		})
	}
}

// lateContext is a context whose deadline has passed and whose timer has
// not yet fired: what a dial that timed out at the deadline can see.
type lateContext struct{ context.Context }

func (lateContext) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }
func (lateContext) Done() <-chan struct{}       { return make(chan struct{}) }

// TestCallWrapsAPassedDeadline: a call that fails once its deadline has
// passed wraps DeadlineExceeded, even before the context says so.
func TestCallWrapsAPassedDeadline(t *testing.T) {
	dial := errors.New("dial tcp 127.0.0.1:1: i/o timeout")
	fail := func(context.Context) (int, error) { return 0, dial }
	_, err := call(lateContext{context.Background()}, fail, nil)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, dial) {
		t.Errorf("call: %v, want it to wrap DeadlineExceeded and the dial's error", err)
	}
	if _, err := call(context.Background(), fail, nil); err != dial {
		t.Errorf("call without a deadline: %v, want the dial's error alone", err)
	}
}
