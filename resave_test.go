package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
)

// TestRequestGrace: a token request already sent is read for a grace
// (RefreshTimeout) past the refresh's deadline: a response in the grace is
// saved and served; one after it fails with context.DeadlineExceeded.
func TestRequestGrace(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name  string
		delay time.Duration
		ok    bool
	}{
		{"within grace", timeout + timeout/2, true},
		{"after grace", 2*timeout + 400*time.Millisecond, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var requests atomic.Int64
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				select {
				case <-time.After(tc.delay):
				case <-r.Context().Done():
					return
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"access_token":"new","refresh_token":"r-new","token_type":"Bearer","expires_in":3600}`)
			}))
			defer ts.Close()
			st := tokensource.NewMemoryStore()
			ctx := context.Background()
			if err := st.Save(ctx, &oauth2.Token{AccessToken: "old", RefreshToken: "r-old", Expiry: time.Now().Add(-time.Minute)}); err != nil {
				t.Fatal(err)
			}
			conf := &oauth2.Config{ClientID: "c", ClientSecret: "s", Endpoint: oauth2.Endpoint{TokenURL: ts.URL, AuthStyle: oauth2.AuthStyleInHeader}}
			src := tokensource.FromConfig(ctx, conf, st, &tokensource.Options{RefreshTimeout: timeout, RefreshAhead: -1})
			tok, err := src.TokenContext(ctx)
			if n := requests.Load(); n != 1 {
				t.Fatalf("token requests = %d, want 1", n)
			}
			if !tc.ok {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("TokenContext = %v, %v; want context.DeadlineExceeded", tok, err)
				}
				return
			}
			if err != nil || tok.AccessToken != "new" {
				t.Fatalf("TokenContext = %v, %v; want the late response's token", tok, err)
			}
			stored, err := st.Load(ctx)
			if err != nil || stored.RefreshToken != "r-new" {
				t.Fatalf("store holds %v, %v; want the rotated refresh token", stored, err)
			}
		})
	}
}

// flakyStore is a MemoryStore whose Put fails while failing is set.
type flakyStore struct {
	*tokensource.MemoryStore
	failing atomic.Bool
	puts    atomic.Int64
}

func (f *flakyStore) Put(ctx context.Context, prev, data []byte) error {
	f.puts.Add(1)
	if f.failing.Load() {
		return errors.New("store down")
	}
	return f.MemoryStore.Put(ctx, prev, data)
}

// TestBackgroundResave: a token whose save failed (the store went down
// during the refresh) is served, and saved in
// the background once the store is back, with no further call.
func TestBackgroundResave(t *testing.T) {
	st := &flakyStore{MemoryStore: tokensource.NewMemoryStore()}
	ctx := context.Background()
	if err := st.MemoryStore.Save(ctx, &oauth2.Token{AccessToken: "old", RefreshToken: "r-old", Expiry: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	refresh := func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		calls.Add(1)
		// The store goes down after the intent is recorded, before the
		// new token's save.
		st.failing.Store(true)
		return &oauth2.Token{AccessToken: "new", RefreshToken: "r-new", Expiry: time.Now().Add(time.Hour)}, nil
	}
	src := tokensource.New(refresh, st, &tokensource.Options{RefreshAhead: -1, RefreshTimeout: time.Second})
	tok, err := src.TokenContext(ctx)
	if err != nil || tok.AccessToken != "new" {
		t.Fatalf("TokenContext = %v, %v; want the new token despite the store", tok, err)
	}
	if s := src.Stats(); s.SaveErrors < 1 || s.Resaves != 0 {
		t.Fatalf("stats %+v, want SaveErrors >= 1 and no resave yet", s)
	}
	if got, _ := st.Load(ctx); got == nil || got.AccessToken != "old" {
		t.Fatalf("store holds %v while failing", got)
	}
	st.failing.Store(false)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got, err := st.Load(ctx); err == nil && got.RefreshToken == "r-new" {
			if rec := storedRecord(t, st); rec.Intent != nil {
				t.Fatalf("resaved record still holds an intent: %+v", rec.Intent)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the store still lacks the new token 5s after it came back (%d puts)", st.puts.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Let a stray second resave, if any, land before counting.
	time.Sleep(300 * time.Millisecond)
	if s := src.Stats(); s.Resaves != 1 || s.Refreshes != 1 {
		t.Fatalf("stats %+v, want 1 resave and 1 refresh", s)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("RefreshFunc calls = %d, want 1", n)
	}
}
