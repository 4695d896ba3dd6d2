package main

import (
	"io"
	"testing"
	"time"

	"github.com/oauthkit/tokensource"
)

// TestRevokeFreshTokenCostsOneRefresh revokes the token of a Source that
// has just refreshed, before any request used it: the next request gets a
// 401, then a 200 with a new token. Revoking the Source's current token
// instead would fail the request: a Source takes the rejection of a new
// token that no request has used for a server that rejects every new token.
func TestRevokeFreshTokenCostsOneRefresh(t *testing.T) {
	d := &demo{
		cfg:    config{dir: t.TempDir(), workers: 1, lifetime: time.Hour},
		out:    &printer{w: io.Discard, start: time.Now()},
		stderr: io.Discard,
	}
	if err := d.setUp(); err != nil {
		t.Fatal(err)
	}
	defer d.close()
	if err := d.store.open().Save(t.Context(), d.srv.Login()); err != nil {
		t.Fatal(err)
	}
	src := d.newSource("test")
	if _, err := src.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	client := tokensource.NewClient(d.clients.apiCtx, src)

	d.revoke(client, "in use")
	var tl tally
	call(client, d.srv.ResourceURL(), false, &tl)
	if tl.ok.Load() != 1 || tl.recovered.Load() != 1 {
		t.Errorf("after the revocation: %d ok (%d recovered from a 401), %d failed %q; want 1 ok, recovered",
			tl.ok.Load(), tl.recovered.Load(), tl.failed.Load(), tl.reasons())
	}
	if n := src.Stats().Refreshes; n != 2 {
		t.Errorf("%d refreshes, want 2: the one before the revocation, and one after", n)
	}
}
