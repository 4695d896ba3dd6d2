package redisstore

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// TestEncryptedValueShowsNoToken refreshes through a Source on an
// encrypted Store: the raw Redis value never shows a token. The value
// copied under another account's key does not load there, and is kept.
func TestEncryptedValueShowsNoToken(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	enc := storetest.NewEncrypter(t)
	client := newClient(t)
	ctx := context.Background()
	alice, bob := uniqueKey(t)+":alice", uniqueKey(t)+":bob"
	opts := &Options{Encrypter: enc}
	login := srv.Login()
	mustSave(t, New(client, alice, opts), login)
	src := tokensource.FromConfig(ctx, srv.Config(), New(client, alice, opts), nil)
	tok, err := src.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := client.Get(ctx, New(client, alice, nil).TokenKey()).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{login.AccessToken, login.RefreshToken, tok.AccessToken, tok.RefreshToken} {
		if bytes.Contains(raw, []byte(v)) {
			t.Fatalf("the Redis value shows a token in clear text: %s", raw)
		}
	}
	if got := mustLoad(t, New(client, alice, opts)); got.RefreshToken != tok.RefreshToken {
		t.Fatal("the encrypted value does not load back")
	}

	bobKey := New(client, bob, nil).TokenKey()
	t.Cleanup(func() { client.Del(context.Background(), bobKey) })
	if err := client.Set(ctx, bobKey, raw, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if got, err := New(client, bob, opts).Load(ctx); !errors.Is(err, tokensource.ErrCorrupt) {
		t.Fatalf("Load of Alice's value under Bob's key = %v, %v; want ErrCorrupt", got, err)
	}
	if after, _ := client.Get(ctx, bobKey).Bytes(); !bytes.Equal(after, raw) {
		t.Error("the refused value was changed")
	}
}
