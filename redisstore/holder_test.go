//go:build unix

package redisstore

import (
	"context"
	"syscall"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// A holderRig is a token server, a key whose stored token needs a refresh,
// and a child process that takes the lock to refresh it.
type holderRig struct {
	srv   *tokensourcetest.Server
	key   string
	store *Store // on the key, in this process
	login *oauth2.Token
	child *storetest.Child
}

// newHolderRig saves an expired login token on a new key, starts a child
// that refreshes it under a lease of lockTTL through srv, and waits until
// the child's token request has reached srv. srv's latency, or hang,
// holds the request.
func newHolderRig(t *testing.T, srv *tokensourcetest.Server, lockTTL time.Duration, hang bool) *holderRig {
	t.Helper()
	r := &holderRig{srv: srv, key: uniqueKey(t)}
	r.store = New(newClient(t), r.key, nil)
	r.login = srv.Login()
	r.login.Expiry = time.Now().Add(-time.Minute) // the refresh token is good, the access token is not
	mustSave(t, r.store, r.login)
	r.child = startChild(t, childSpec{Part: "refresh", Key: r.key, URL: srv.URL, LockTTL: lockTTL, HangAfterResponse: hang})
	for deadline := time.Now().Add(hangBound); srv.Stats().TokenRequests == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the child sent no token request within %v; stderr:\n%s", hangBound, r.child.Stderr())
		}
	}
	return r
}

// other returns a Source on the rig's key in this process: another replica.
func (r *holderRig) other() *tokensource.Source {
	return tokensource.FromConfig(context.Background(), r.srv.Config(), New(r.store.client, r.key, nil), nil)
}

// signal sends sig to the child.
func (r *holderRig) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := r.child.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// TestLockHolderStalls stops the process that holds the lock (SIGSTOP)
// while its token request is in flight.
//
// Stalled for less than its lease, it keeps the lock: another replica
// waits, and once the holder is resumed, adopts the token it saved.
func TestLockHolderStalls(t *testing.T) {
	t.Run("shorter than the lease", func(t *testing.T) {
		srv := tokensourcetest.NewServer(&tokensourcetest.Options{Latency: 500 * time.Millisecond})
		defer srv.Close()
		r := newHolderRig(t, srv, time.Minute, false)
		r.signal(t, syscall.SIGSTOP)

		type result struct {
			tok *oauth2.Token
			err error
		}
		got := make(chan result, 1)
		src := r.other()
		go func() { // no t.Fatal here: the result goes to the test's goroutine
			ctx, cancel := context.WithTimeout(context.Background(), hangBound)
			defer cancel()
			tok, err := src.TokenContext(ctx)
			got <- result{tok, err}
		}()
		select {
		case res := <-got:
			t.Fatalf("another replica got a token (%v) while the holder was stopped", res.err)
		case <-time.After(time.Second): // past the latency
		}
		for deadline := time.Now().Add(hangBound); srv.Stats().Refreshes == 0; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the server never responded to the holder's token request")
			}
		}
		r.signal(t, syscall.SIGCONT)
		res := <-got
		if res.err != nil {
			t.Fatalf("after the holder resumed: %v", res.err)
		}
		var rep childReport
		r.child.Report(t, &rep)
		if rep.Err != "" || rep.Stats.Refreshes != 1 || rep.Stats.SaveErrors != 0 {
			t.Errorf("the holder reported %+v; want one refresh, saved", rep)
		}
		if st := src.Stats(); st.Refreshes != 0 || mustLoad(t, r.store).AccessToken != res.tok.AccessToken {
			t.Errorf("the other replica refreshed %d times; want it to take the holder's token", st.Refreshes)
		}
		if st := srv.Stats(); st.Refreshes != 1 || st.ReuseDetected != 0 {
			t.Errorf("server stats %+v; want one refresh, no reuse", st)
		}
	})
}
