package keyringstore

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/zalando/go-keyring"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// TestEncryptedValuesShowNoToken refreshes through a Source on a Store
// with an Encrypter, in chunks: no keyring value, read as it is, and no
// chunk decoded from base64 shows a token. The record copied under
// another user does not load there, and is kept; a Store that requires
// encryption refuses a record in plain text.
func TestEncryptedValuesShowNoToken(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	enc := storetest.NewEncrypter(t)
	opts := &Options{ChunkSize: 128, Encrypter: enc}
	s := newStore(t, opts)
	ctx := context.Background()
	login := srv.Login()
	mustSave(t, s, login)
	src := tokensource.FromConfig(ctx, srv.Config(), s, nil)
	tok, err := src.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{login.AccessToken, login.RefreshToken, tok.AccessToken, tok.RefreshToken}

	value, idx := rawIndex(t, s)
	if idx.ID == "" {
		t.Fatal("the sealed record is in its index; want it in chunks")
	}
	values := append([]string{value}, rawChunks(t, s, idx)...)
	var joined []byte
	for i, v := range values {
		if i > 0 {
			piece, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatal(err)
			}
			joined = append(joined, piece...)
		}
		for _, secret := range secrets {
			if strings.Contains(v, secret) {
				t.Fatalf("keyring value %d shows a token in clear text", i)
			}
		}
	}
	for _, secret := range secrets {
		if bytes.Contains(joined, []byte(secret)) {
			t.Fatal("the record in the chunks shows a token in clear text")
		}
	}
	if got := mustLoad(t, New(s.Service(), s.User(), opts)); got.RefreshToken != tok.RefreshToken {
		t.Fatal("the encrypted record does not load back")
	}

	// The sealed record, copied to another user, in its index.
	bob := New(s.Service(), "bob", opts)
	if err := keyring.Set(s.Service(), "bob", (index{Version: layoutVersion, Record: joined}).encode()); err != nil {
		t.Fatal(err)
	}
	if got, err := bob.Load(ctx); !errors.Is(err, tokensource.ErrCorrupt) {
		t.Fatalf("Load of the record copied to another user = %v, %v; want ErrCorrupt", got, err)
	}
	if data, err := bob.Get(ctx); err != nil || !bytes.Equal(data, joined) {
		t.Fatalf("the refused record was changed (%v)", err)
	}

	plain := newStore(t, nil)
	mustSave(t, plain, login)
	strict := New(plain.Service(), plain.User(), &Options{Encrypter: enc, RequireEncryption: true})
	if _, err := strict.Load(ctx); !errors.Is(err, tokensource.ErrCorrupt) {
		t.Fatalf("Load of a record in plain text, requiring encryption: %v; want ErrCorrupt", err)
	}
}
