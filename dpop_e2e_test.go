package tokensource_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/login"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// dpopGet sends a GET to the resource through client, and returns its
// status.
func dpopGet(client *http.Client, url string) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// requestTally counts the outcomes of requests sent by many goroutines.
type requestTally struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
}

// get sends a GET to url through client, counts how it went, and reports
// whether it got a 200.
func (r *requestTally) get(client *http.Client, url string) bool {
	status, err := dpopGet(client, url)
	if err == nil && status == http.StatusOK {
		r.ok.Add(1)
		return true
	}
	r.failed.Add(1)
	if err == nil {
		err = errors.New(http.StatusText(status))
	}
	r.firstErr.CompareAndSwap(nil, err)
	return false
}

// check fails t if a request failed.
func (r *requestTally) check(t *testing.T) {
	t.Helper()
	if n := r.failed.Load(); n != 0 {
		t.Errorf("%d requests failed, the first with %v", n, r.firstErr.Load())
	}
}

// TestDPoPUnderLoad: 16 goroutines call a DPoP resource through a Source
// for 3 s, across expiries of 1-second tokens and nonce rotations every
// 300 ms: no request fails, the server refuses no proof, and the tokens
// are DPoP-bound.
func TestDPoPUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("3 s of load")
	}
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{DPoP: true, AccessTokenLifetime: time.Second})
	defer srv.Close()
	ctx := context.Background()
	store := tokensource.NewFileStore(filepath.Join(t.TempDir(), "token.json"))
	if err := store.Save(ctx, srv.Login()); err != nil {
		t.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), store, &tokensource.Options{DPoP: &tokensource.DPoPOptions{}})
	defer src.Wait(ctx)
	client := tokensource.NewClient(ctx, src)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var tally requestTally
	for range 16 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tally.get(client, srv.ResourceURL())
			}
		})
	}
	rotations := time.NewTicker(300 * time.Millisecond)
	end := time.After(3 * time.Second)
loop:
	for {
		select {
		case <-rotations.C:
			srv.RotateDPoPNonce()
		case <-end:
			break loop
		}
	}
	rotations.Stop()
	close(stop)
	wg.Wait()

	st := srv.Stats()
	t.Logf("%d ok, %d failed; server %+v; Source %+v", tally.ok.Load(), tally.failed.Load(), st, src.Stats())
	tally.check(t)
	if st.DPoPProofsRejected != 0 || st.ReuseDetected != 0 || st.Refreshes < 2 {
		t.Errorf("server stats %+v: want no rejected proof, no reuse, and refreshes across expiries", st)
	}
	if src.Stats().Invalidations != 0 {
		t.Errorf("a nonce challenge was taken for a rejected token: %+v", src.Stats())
	}
	tok, err := src.Token()
	if err != nil || tok.TokenType != "DPoP" {
		t.Errorf("the Source's token: %v, %v; want a DPoP-bound one", tok, err)
	}
}

// TestDPoPNonceRetries: the first token request has no nonce, and the
// token endpoint asks for one; a rotation makes the resource ask too.
// Each is sent once more with the nonce, and nothing fails or is
// invalidated.
func TestDPoPNonceRetries(t *testing.T) {
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{DPoP: true})
	defer srv.Close()
	ctx := context.Background()
	store := tokensource.NewMemoryStore()
	if err := store.Save(ctx, srv.Login()); err != nil {
		t.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), store, &tokensource.Options{DPoP: &tokensource.DPoPOptions{}})
	if _, err := src.Refresh(ctx); err != nil {
		t.Fatalf("the first refresh, which the server asks for a nonce: %v", err)
	}
	if st := srv.Stats(); st.DPoPNonceChallenges != 1 || st.Refreshes != 1 {
		t.Fatalf("server stats %+v: want one nonce challenge at the token endpoint, then one refresh", st)
	}
	client := tokensource.NewClient(ctx, src)
	if status, err := dpopGet(client, srv.ResourceURL()); err != nil || status != http.StatusOK {
		t.Fatalf("a resource request: %d, %v", status, err)
	}
	srv.RotateDPoPNonce()
	if status, err := dpopGet(client, srv.ResourceURL()); err != nil || status != http.StatusOK {
		t.Fatalf("a resource request after a rotation: %d, %v", status, err)
	}
	st := srv.Stats()
	if st.DPoPNonceChallenges != 2 || st.DPoPProofsRejected != 0 || st.Refreshes != 1 {
		t.Errorf("server stats %+v: want a second nonce challenge, at the resource, no new refresh", st)
	}
	if s := src.Stats(); s.Invalidations != 0 || s.RefreshErrors != 0 {
		t.Errorf("Source stats %+v: a nonce challenge is no rejected token, nor a failed refresh", s)
	}
}

// TestDPoPKeyLivesWithTheGrant: the key the Source generated is kept in
// the store, so a restart, and another Source on the same file (another
// process), refresh the bound refresh token with it; the server would
// refuse another key.
func TestDPoPKeyLivesWithTheGrant(t *testing.T) {
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{DPoP: true})
	defer srv.Close()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token.json")
	if err := tokensource.NewFileStore(path).Save(ctx, srv.Login()); err != nil {
		t.Fatal(err)
	}
	opts := func() *tokensource.Options { return &tokensource.Options{DPoP: &tokensource.DPoPOptions{}} }
	first := tokensource.FromConfig(ctx, srv.Config(), tokensource.NewFileStore(path), opts())
	if _, err := first.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"after a restart", "another process", "the first again"} {
		src := first
		if i < 2 {
			src = tokensource.FromConfig(ctx, srv.Config(), tokensource.NewFileStore(path), opts())
		}
		tok, err := src.Refresh(ctx)
		if err != nil {
			t.Fatalf("%s: %v; want a refresh with the stored key", name, err)
		}
		if status, err := dpopGet(tokensource.NewClient(ctx, src), srv.ResourceURL()); err != nil || status != http.StatusOK || tok.TokenType != "DPoP" {
			t.Fatalf("%s: resource %d, %v, token type %q", name, status, err, tok.TokenType)
		}
	}
	// The first Source adopts the token the second saved; each new Source
	// learns the nonce from a challenge.
	if st := srv.Stats(); st.DPoPProofsRejected != 0 || st.Refreshes != 3 || st.RefreshFailures != st.DPoPNonceChallenges {
		t.Errorf("server stats %+v: want 3 refreshes with one key, no rejected proof, no failure but nonce challenges", st)
	}

	// A Source with a key of its own cannot use the grant bound to the
	// stored one: the server refuses.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	given := tokensource.FromConfig(ctx, srv.Config(), tokensource.NewFileStore(path), &tokensource.Options{DPoP: &tokensource.DPoPOptions{Key: other}})
	if _, err := given.Refresh(ctx); !errors.Is(err, tokensource.ErrReauthRequired) {
		t.Errorf("a refresh signed with another key: %v; want the server's invalid_grant", err)
	}
}

// TestDPoPLogin: the login's code exchange carries a proof too, through
// the ctx's client, and the grant it brings is bound to the key.
func TestDPoPLogin(t *testing.T) {
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{DPoP: true})
	defer srv.Close()
	ctx := context.Background()
	conf := srv.Config()
	src := tokensource.FromConfig(ctx, conf, tokensource.NewMemoryStore(), &tokensource.Options{
		DPoP:  &tokensource.DPoPOptions{},
		Login: login.Browser(conf, &login.BrowserOptions{Open: scriptedBrowser}),
	})
	tok, err := src.TokenContext(ctx)
	if err != nil || tok.TokenType != "DPoP" {
		t.Fatalf("TokenContext = %v, %v; want a DPoP-bound token from the login", tok, err)
	}
	if status, err := dpopGet(tokensource.NewClient(ctx, src), srv.ResourceURL()); err != nil || status != http.StatusOK {
		t.Fatalf("a resource request: %d, %v", status, err)
	}
	if st := srv.Stats(); st.CodeExchanges != 1 || st.DPoPProofsRejected != 0 {
		t.Errorf("server stats %+v: want one code exchange with a valid proof", st)
	}
}
