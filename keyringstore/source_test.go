package keyringstore

import (
	"errors"
	"testing"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// TestSourceRefreshesThroughStore: two Sources, each on a Store of its
// own of one service and user, as two processes of the user would have,
// share the grant that a login saved in the keyring, in chunks. When the
// token expires, the first refreshes it, under the Store's lock, and
// saves the new one; the second finds it in the keyring and takes it,
// without a refresh of its own. A Delete logs both out.
func TestSourceRefreshesThroughStore(t *testing.T) {
	const chunkSize = 128
	clock := tokensourcetest.NewClock(time.Now())
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now})
	defer srv.Close()
	a := newStore(t, &Options{ChunkSize: chunkSize})
	b := New(a.Service(), a.User(), &Options{ChunkSize: chunkSize})
	ctx := testCtx(t)
	opts := &tokensource.Options{Now: clock.Now}
	srcA := tokensource.FromConfig(ctx, srv.Config(), a, opts)
	srcB := tokensource.FromConfig(ctx, srv.Config(), b, opts)

	login := srv.Login()
	mustSave(t, a, login)
	if _, idx := rawIndex(t, a); idx.ID == "" {
		t.Fatal("the login's record is in its index; want it in chunks")
	}
	for _, src := range []*tokensource.Source{srcA, srcB} {
		if tok, err := src.Token(); err != nil || tok.AccessToken != login.AccessToken {
			t.Fatalf("Token after the login: %v; want the login's token", err)
		}
	}

	clock.Advance(2 * time.Hour)
	tokA, errA := srcA.Token()
	tokB, errB := srcB.Token()
	if err := errors.Join(errA, errB); err != nil {
		t.Fatal(err)
	}
	if tokA.AccessToken == login.AccessToken || tokB.AccessToken != tokA.AccessToken {
		t.Fatal("the Sources do not share the refreshed token")
	}
	if n := srv.Stats().Refreshes; n != 1 {
		t.Errorf("%d refreshes; want 1", n)
	}
	if n := srcB.Stats().Adopted; n != 1 {
		t.Errorf("the second Source took %d tokens from the keyring; want 1", n)
	}
	if stored := mustLoad(t, b); stored.RefreshToken != tokA.RefreshToken {
		t.Error("the keyring does not hold the refreshed token")
	}

	if err := a.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Hour)
	if _, err := srcB.Token(); !errors.Is(err, tokensource.ErrReauthRequired) {
		t.Fatalf("Token after Delete: %v; want ErrReauthRequired", err)
	}
}
