//go:build linux

package pgstore

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"github.com/oauthkit/tokensource/tokensourcetest/netfault"
)

// grantHolderEnv carries a grantHolder to TestGrantHolderChild.
const grantHolderEnv = "PGSTORE_GRANT_HOLDER_CHILD"

// grantHolder is what the child of TestPartitionedHolderLosesNoGrant
// needs: the database, the table and the client.
type grantHolder struct {
	URL, Table string
	Config     *oauth2.Config
}

// TestPartitionedHolderLosesNoGrant cuts replica A off the network (its
// link to the database and to the token server goes down) while it holds
// the lock and is about to send its token request, against a server that
// revokes the grant when a spent refresh token comes back. Replica B, on
// the host, must get a working token once the server frees A's lock and
// A's intent has had its lock-delay, without presenting a spent refresh
// token: A's request never reached the server.
func TestPartitionedHolderLosesNoGrant(t *testing.T) {
	t.Parallel() // most of it is waiting for the server
	p := newPartition(t)
	srv := tokensourcetest.NewServer(nil)
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := New(p.pool, "k", p.opts).Save(ctx, srv.Login()); err != nil {
		t.Fatal(err)
	}

	// A reaches the token server through a proxy on the host's end of its
	// link, so that only the cut keeps its request from the server.
	tokenURL, _ := url.Parse(srv.TokenURL())
	proxy, err := netfault.NewOn(net.JoinHostPort(p.hostIP, "0"), tokenURL.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	conf := srv.Config()
	tokenURL.Host = proxy.Addr()
	conf.Endpoint.TokenURL = tokenURL.String()
	spec, _ := json.Marshal(grantHolder{URL: p.childPG, Table: p.opts.Table, Config: conf})
	stdin, lines := p.child(ctx, "TestGrantHolderChild", grantHolderEnv+"="+string(spec))
	await(t, lines, "requesting")
	p.cut()
	cut := time.Now()
	fmt.Fprintln(stdin, "cut") // A sends its request into the cut link

	b := tokensource.FromConfig(ctx, srv.Config(), New(p.pool, "k", p.opts), &tokensource.Options{RefreshTimeout: time.Second})
	t.Cleanup(func() { b.Wait(ctx) })
	var tok *oauth2.Token
	for tries := 0; tok == nil && ctx.Err() == nil; tries++ {
		// Each try ends at B's RefreshTimeout while the lock is held or
		// the intent is waited for; B remembers when it first saw the
		// intent, so the lock-delay runs across tries.
		tok, _ = b.Refresh(ctx)
	}
	recovered := time.Since(cut)
	if tok == nil {
		t.Fatalf("B got no token within %v of the cut", recovered)
	}
	st := srv.Stats()
	t.Logf("recovery: B had a working token %v after A's link went down; server stats %+v, takeovers %d",
		recovered, st, b.Stats().TakeOvers)
	if st.ReuseDetected != 0 || st.RefreshFailures != 0 {
		t.Errorf("server stats %+v: want no reuse and no failed request", st)
	}
	if st.Refreshes != 1 {
		t.Errorf("the server served %d refreshes, want 1: B's, A's never arrived", st.Refreshes)
	}
	// The lock is freed within 30 s. A's intent is older than twice its
	// lock-delay (2 s of token request, 1 s of grace, 2 s of saves) by
	// then, so B takes over at once; 10 s more allows for a younger one.
	if recovered > 40*time.Second {
		t.Errorf("B recovered %v after the cut, want 40 s at most", recovered)
	}
	if b.Stats().TakeOvers != 1 {
		t.Errorf("B took over %d times, want 1", b.Stats().TakeOvers)
	}
	fresh := tokensource.FromConfig(ctx, srv.Config(), New(p.pool, "k", p.opts), &tokensource.Options{RefreshTimeout: 5 * time.Second})
	defer fresh.Wait(ctx)
	if _, err := fresh.Refresh(ctx); err != nil {
		t.Errorf("a new replica's refresh of the stored grant: %v; want a working grant", err)
	}
}

// TestGrantHolderChild is replica A of TestPartitionedHolderLosesNoGrant,
// in its network namespace: it refreshes, says "requesting" just before its
// token request, and sends it once a line comes on stdin (the link is cut
// then).
func TestGrantHolderChild(t *testing.T) {
	spec := os.Getenv(grantHolderEnv)
	if spec == "" {
		t.Skip("the child of TestPartitionedHolderLosesNoGrant")
	}
	var h grantHolder
	if err := json.Unmarshal([]byte(spec), &h); err != nil {
		t.Fatal(err)
	}
	pool := newPool(t, h.URL, nil)
	stdin := bufio.NewScanner(os.Stdin)
	a := tokensource.FromConfig(context.Background(), h.Config, New(pool, "k", &Options{Table: h.Table}), &tokensource.Options{
		RefreshTimeout: time.Second,
		Hooks: &tokensource.Hooks{TokenRequest: func(context.Context) {
			fmt.Println("requesting")
			stdin.Scan()
		}},
	})
	a.Refresh(context.Background())
	// The parent kills this process when it is done; pgx's goroutines may
	// wait on the cut link until then.
	time.Sleep(time.Minute)
}
