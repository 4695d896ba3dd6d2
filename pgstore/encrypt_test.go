package pgstore

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// TestEncryptedRowShowsNoToken refreshes through a Source on an encrypted
// Store: the raw row never shows a token. The row copied under another
// account's key does not load there, and is kept.
func TestEncryptedRowShowsNoToken(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	enc := storetest.NewEncrypter(t)
	pool := testPool(t)
	opts := newTable(t, pool)
	opts.Encrypter = enc
	ctx := context.Background()
	login := srv.Login()
	if err := New(pool, "alice", opts).Save(ctx, login); err != nil {
		t.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), New(pool, "alice", opts), nil)
	tok, err := src.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := pool.QueryRow(ctx, "SELECT t::text FROM "+opts.ident()+" t WHERE key = $1", "alice").Scan(&raw); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{login.AccessToken, login.RefreshToken, tok.AccessToken, tok.RefreshToken} {
		if bytes.Contains(raw, []byte(v)) {
			t.Fatalf("the row shows a token in clear text: %s", raw)
		}
	}
	if got, err := New(pool, "alice", opts).Load(ctx); err != nil || got.RefreshToken != tok.RefreshToken {
		t.Fatalf("the encrypted row does not load back: %v, %v", got, err)
	}

	if _, err := pool.Exec(ctx, "INSERT INTO "+opts.ident()+" (key, token) SELECT 'bob', token FROM "+opts.ident()+" WHERE key = 'alice'"); err != nil {
		t.Fatal(err)
	}
	if got, err := New(pool, "bob", opts).Load(ctx); !errors.Is(err, tokensource.ErrCorrupt) {
		t.Fatalf("Load of Alice's row under Bob's key = %v, %v; want ErrCorrupt", got, err)
	}
}
