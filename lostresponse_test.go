package tokensource

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/oauthkit/tokensource/tokensourcetest"
)

// TestLostRefreshResponse pins what happens when the answer to a refresh
// is lost with refresh-token rotation on: the server rotated the token, but
// the Source never saw the new one. This is inherent to rotation: the only
// refresh token the Source has is the one it just spent.
//
// The refresh fails with a transport error and the Source backs off, after
// exactly one request (no silent resend). The next refresh, after the
// backoff, presents the spent refresh token: a server with reuse detection
// takes it for a replay, revokes the family and answers invalid_grant, and
// from then on the Source asks for a new login (ErrReauthRequired) without
// sending another request. A server that allows a reuse grace window longer
// than the backoff answers the second refresh normally instead.
func TestLostRefreshResponse(t *testing.T) {
	t.Run("reuse detected", func(t *testing.T) {
		r := newServerRig(t, nil)
		good := readFile(t, r.path)
		r.expire()
		r.srv.FailNext(1, tokensourcetest.FaultLoseResponse)

		_, err := r.src.Token()
		if err == nil || errors.Is(err, ErrReauthRequired) {
			t.Fatalf("after a lost answer: err = %v, want a transport error", err)
		}
		wantMessage(t, err, "requesting a token: tokensource: no response from the token endpoint")
		if st := r.srv.Stats(); st.TokenRequests != 1 || st.Refreshes != 1 {
			t.Fatalf("server stats %+v; want 1 request, which rotated the token", st)
		}

		r.clock.Advance(backoffMin + time.Millisecond)
		_, err = r.src.Token()
		if !errors.Is(err, ErrReauthRequired) {
			t.Fatalf("refresh after the backoff: err = %v, want ErrReauthRequired", err)
		}
		wantEndpointError(t, err, 400, "invalid_grant")
		if st := r.srv.Stats(); st.TokenRequests != 2 || st.ReuseDetected != 1 {
			t.Fatalf("server stats %+v; want 2 requests, 1 reuse detected", st)
		}

		r.clock.Advance(24 * time.Hour)
		_, errs := callMany(r.src, 50, 20)
		for _, err := range errs {
			if !errors.Is(err, ErrReauthRequired) {
				t.Fatalf("a day later: err = %v, want ErrReauthRequired", err)
			}
		}
		if n := r.requests(); n != 2 {
			t.Fatalf("a day later: %d token requests, want still 2", n)
		}
		if got := readFile(t, r.path); string(got) != string(good) {
			t.Fatalf("the token file changed:\n%s", got)
		}
	})

	t.Run("reuse grace", func(t *testing.T) {
		clock := tokensourcetest.NewClock(rigStart)
		srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now, ReuseGrace: 10 * time.Second})
		defer srv.Close()
		store := NewFileStore(filepath.Join(t.TempDir(), "token.json"))
		mustSave(t, store, srv.Login())
		src := FromConfig(context.Background(), srv.Config(), store, &Options{Now: clock.Now})
		clock.Advance(tokensourcetest.DefaultAccessTokenLifetime + time.Second)
		srv.FailNext(1, tokensourcetest.FaultLoseResponse)

		if _, err := src.Token(); err == nil {
			t.Fatal("after a lost answer: no error")
		}
		clock.Advance(backoffMin + time.Millisecond)
		tok, err := src.Token()
		if err != nil {
			t.Fatalf("refresh within the grace window: %v", err)
		}
		if got := mustLoad(t, store); !sameToken(got, tok) {
			t.Errorf("the token file holds %q, not the new token %q", got.AccessToken, tok.AccessToken)
		}
		if st := srv.Stats(); st.TokenRequests != 2 || st.Refreshes != 2 || st.ReuseDetected != 0 {
			t.Errorf("server stats %+v; want 2 requests, 2 refreshes, no reuse", st)
		}
	})
}
