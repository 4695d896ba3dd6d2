package pgstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// countingStore is a Store that counts the Source's loads.
type countingStore struct {
	*Store
	loads atomic.Int64
}

func (c *countingStore) Load(ctx context.Context) (*oauth2.Token, error) {
	c.loads.Add(1)
	return c.Store.Load(ctx)
}

// Get counts too: a Source reads the store through the Backend.
func (c *countingStore) Get(ctx context.Context) ([]byte, error) {
	c.loads.Add(1)
	return c.Store.Get(ctx)
}

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestServerGoesAway stops PostgreSQL under a running Source and starts it
// again. Requests with a valid token keep succeeding; the refresh ahead
// fails and waits before trying again; once the token has expired,
// requests fail with an error that names the table and key and holds no
// token, and then, until the backoff has passed, with a BackoffError,
// without loading the store; when the server is back, the next refresh
// succeeds and is saved.
func TestServerGoesAway(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL cluster")
	}
	pg := startCluster(t)
	pool := newPool(t, pg.URL, nil)
	opts := newTable(t, pool)
	clock := tokensourcetest.NewClock(time.Now())
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now, AccessTokenLifetime: time.Hour})
	defer srv.Close()
	ctx := context.Background()
	login := srv.Login()
	store := &countingStore{Store: New(pool, "acct", opts)}
	if err := store.Save(ctx, login); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	src := tokensource.FromConfig(ctx, srv.Config(), store, &tokensource.Options{
		Now:    clock.Now,
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	client := tokensource.NewClient(ctx, src)
	requests := func(phase string) {
		t.Helper()
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				for range 10 {
					if err := get(client, srv.ResourceURL()); err != nil {
						t.Errorf("%s: %v", phase, err)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := src.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	requests("server up")
	pg.stop()

	loads := store.loads.Load()
	requests("server down, token fresh")
	if n := store.loads.Load() - loads; n != 0 {
		t.Errorf("%d loads with a fresh token, want none", n)
	}

	clock.Advance(time.Hour - 30*time.Second) // inside the refresh-ahead window
	requests("server down, refresh ahead failing")
	if n := store.loads.Load() - loads; n != 1 {
		t.Errorf("%d loads in the refresh-ahead window at one instant, want 1 and a backoff", n)
	}
	clock.Advance(2 * time.Second)
	requests("server down, refresh ahead after its backoff")
	if n := store.loads.Load() - loads; n != 2 {
		t.Errorf("%d loads once the backoff had passed, want 2", n)
	}

	clock.Advance(time.Minute) // expired
	downErr := get(client, srv.ResourceURL())
	if downErr == nil {
		t.Fatal("a request with an expired token and no server succeeded")
	}
	t.Logf("with the server down: %v", downErr)
	// The failed load is backed off: until the backoff has passed, a
	// caller that needs a token gets a BackoffError at once, and the store
	// is not loaded again.
	loads = store.loads.Load()
	backoffErr := get(client, srv.ResourceURL())
	if be := (*tokensource.BackoffError)(nil); !errors.As(backoffErr, &be) {
		t.Errorf("a request during the backoff of the failed load: %v, want a BackoffError", backoffErr)
	}
	if n := store.loads.Load() - loads; n != 0 {
		t.Errorf("%d loads during the backoff of the failed load, want none", n)
	}
	for _, err := range []error{downErr, backoffErr} {
		for _, want := range []string{opts.Table, `key "acct"`} {
			if err != nil && !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
		}
	}

	pg.start()
	// Past the backoff, a minute at most, the next refresh succeeds. The
	// pool may hand out a connection the restart broke once, whose failure
	// backs off again.
	var err error
	for range 2 {
		clock.Advance(time.Minute)
		if err = get(client, srv.ResourceURL()); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("after the server came back: %v", err)
	}
	if st := srv.Stats(); st.Refreshes != 1 || st.ReuseDetected != 0 {
		t.Errorf("server: %+v; want one refresh, once PostgreSQL was back", st)
	}
	current, err := src.Token()
	if err != nil {
		t.Fatal(err)
	}
	if stored, err := New(pool, "acct", opts).Load(ctx); err != nil || stored.AccessToken != current.AccessToken {
		t.Errorf("stored after the refresh: %v, %v; want the Source's token", stored, err)
	}
	for _, secret := range []string{login.AccessToken, login.RefreshToken, current.AccessToken, current.RefreshToken} {
		if strings.Contains(logs.String(), secret) || strings.Contains(downErr.Error(), secret) || strings.Contains(fmt.Sprint(backoffErr), secret) {
			t.Errorf("a token value appears in the logs or an error")
		}
	}
	if !strings.Contains(logs.String(), opts.Table) {
		t.Errorf("the logs do not name the table:\n%s", logs.String())
	}
}
