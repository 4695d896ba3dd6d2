package main

import (
	"io"
	"testing"
	"time"

	"github.com/oauthkit/tokensource"
)

// TestRevokeFreshTokenCostsOneRefresh revokes the token of a Source that
// has just refreshed, after a new token before it was rejected unused: the
// next request gets a 401, then a 200 with a new token. Revoking the
// Source's current token instead, before any request used it, would fail
// the request: a Source takes a second new token in a row rejected unused
// for a server that rejects every new token.
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
	src := d.newSource("test", nil)
	unused, err := src.Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	src.Invalidate(unused)
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
	if n := src.Stats().Refreshes; n != 3 {
		t.Errorf("%d refreshes, want 3: two before the revocation, and one after", n)
	}
}
