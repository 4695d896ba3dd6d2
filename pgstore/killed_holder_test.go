package pgstore

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// TestKilledHolderDuringTokenRequestLosesNoGrant terminates the session
// that holds the lock while its Source's token request, 1.5 s long, is in
// flight, in front of a server that revokes the grant when a spent refresh
// token comes back. Another replica takes the lock at once; it must not
// send the refresh token the first one spent: it waits for the intent in
// the row, and adopts the first replica's token once that is saved.
// It runs twice: on plain records, and on records sealed by an Encrypter,
// whose compare-and-swap is on the sealed bytes.
func TestKilledHolderDuringTokenRequestLosesNoGrant(t *testing.T) {
	t.Run("plain", func(t *testing.T) { killedHolderDuringTokenRequest(t, false) })
	t.Run("sealed", func(t *testing.T) { killedHolderDuringTokenRequest(t, true) })
}

func killedHolderDuringTokenRequest(t *testing.T, sealed bool) {
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Latency: 1500 * time.Millisecond})
	t.Cleanup(srv.Close)
	pool := testPool(t)
	opts := newTable(t, pool)
	if sealed {
		opts.Encrypter, opts.RequireEncryption = storetest.NewEncrypter(t), true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := New(pool, "k", opts).Save(ctx, srv.Login()); err != nil {
		t.Fatal(err)
	}

	requested := make(chan struct{})
	var once sync.Once
	aStore := New(pool, "k", opts)
	a := tokensource.FromConfig(ctx, srv.Config(), aStore, &tokensource.Options{RefreshTimeout: 3 * time.Second,
		Hooks: &tokensource.Hooks{TokenRequest: func(context.Context) { once.Do(func() { close(requested) }) }}})
	b := tokensource.FromConfig(ctx, srv.Config(), New(pool, "k", opts), &tokensource.Options{RefreshTimeout: 3 * time.Second})
	t.Cleanup(func() { a.Wait(ctx); b.Wait(ctx) })

	var aTok *oauth2.Token
	var aErr error
	aDone := make(chan struct{})
	go func() {
		defer close(aDone)
		aTok, aErr = a.Refresh(ctx)
	}()
	<-requested
	killed := 0
	for _, se := range lockSessions(t, pool, aStore) {
		if se.Granted {
			if _, err := pool.Exec(ctx, "SELECT pg_terminate_backend($1)", se.PID); err != nil {
				t.Fatal(err)
			}
			killed++
		}
	}
	if killed != 1 {
		t.Fatalf("terminated %d lock holders, want 1", killed)
	}
	began := time.Now()
	var bTok *oauth2.Token
	for bTok == nil && ctx.Err() == nil {
		// B's refresh may end before A's token is saved: it waited for the
		// intent as long as its RefreshTimeout allowed. It tries again.
		bTok, _ = b.Refresh(ctx)
	}
	<-aDone
	if aErr != nil {
		t.Fatalf("A, whose lock session was terminated: %v; want its token, saved through the pool", aErr)
	}
	if bTok == nil || bTok.AccessToken != aTok.AccessToken {
		t.Fatal("B did not adopt A's token")
	}
	t.Logf("recovery: B had A's token %v after the session was terminated", time.Since(began))
	st := srv.Stats()
	if st.ReuseDetected != 0 || st.RefreshFailures != 0 {
		t.Fatalf("server stats %+v: want no reuse and no failed request", st)
	}
	fresh := tokensource.FromConfig(ctx, srv.Config(), New(pool, "k", opts), &tokensource.Options{RefreshTimeout: 5 * time.Second})
	freshTok, err := fresh.Refresh(ctx)
	if err != nil {
		t.Fatalf("the stored grant no longer refreshes: %v", err)
	}
	if sealed {
		var row string
		if err := pool.QueryRow(ctx, "SELECT token FROM "+opts.ident()+" WHERE key = 'k'").Scan(&row); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(row, freshTok.RefreshToken) || strings.Contains(row, `"refresh_token"`) {
			t.Error("the row is not sealed: it shows the record's refresh token")
		}
	}
	st = srv.Stats()
	if st.ReuseDetected != 0 {
		t.Fatalf("server stats %+v: reuse", st)
	}
	t.Logf("token requests %d, refreshes %d, failed %d, reused 0", st.TokenRequests, st.Refreshes, st.RefreshFailures)
}
