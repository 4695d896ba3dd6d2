package tokensource_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

func newKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	return k
}

func newAESGCM(t *testing.T, keys ...[]byte) tokensource.Encrypter {
	t.Helper()
	e, err := tokensource.NewAESGCM(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// wantSealed fails t if the file shows any of the token's values.
func wantSealed(t *testing.T, path string, tok *oauth2.Token) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{tok.AccessToken, tok.RefreshToken} {
		if v != "" && bytes.Contains(data, []byte(v)) {
			t.Fatalf("the file shows a token in clear text:\n%s", data)
		}
	}
	if !bytes.Contains(data, []byte(`"sealed"`)) {
		t.Fatalf("the file is not a sealed record:\n%s", data)
	}
	return data
}

func TestNewAESGCMRefusesBadKeys(t *testing.T) {
	for _, keys := range [][][]byte{nil, {make([]byte, 16)}, {make([]byte, 32), make([]byte, 31)}} {
		if _, err := tokensource.NewAESGCM(keys...); err == nil {
			t.Errorf("NewAESGCM with %d keys of lengths %v: no error", len(keys), lens(keys))
		}
	}
}

func lens(keys [][]byte) []int {
	var n []int
	for _, k := range keys {
		n = append(n, len(k))
	}
	return n
}

// TestEncryptedFileStoreKeepsNoTokenInClear refreshes through a Source on
// an encrypted FileStore: the file never shows a token, and a new Source
// on it reads the rotated grant back.
func TestEncryptedFileStoreKeepsNoTokenInClear(t *testing.T) {
	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token.json")
	opts := &tokensource.FileStoreOptions{Encrypter: newAESGCM(t, newKey(t))}
	login := srv.Login()
	if err := tokensource.NewFileStoreWith(path, opts).Save(ctx, login); err != nil {
		t.Fatal(err)
	}
	wantSealed(t, path, login)
	src := tokensource.FromConfig(ctx, srv.Config(), tokensource.NewFileStoreWith(path, opts), nil)
	tok, err := src.Refresh(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantSealed(t, path, tok)
	wantSealed(t, path, login)
	got, err := tokensource.NewFileStoreWith(path, opts).Load(ctx)
	if err != nil || got.RefreshToken != tok.RefreshToken {
		t.Fatalf("Load = %v, %v; want the rotated token", got, err)
	}
}

// TestSwappedRecordIsRefused copies one account's encrypted file over
// another's: it does not load there, and is left as it is.
func TestSwappedRecordIsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := &tokensource.FileStoreOptions{Encrypter: newAESGCM(t, newKey(t))}
	alice, bob := filepath.Join(dir, "alice.json"), filepath.Join(dir, "bob.json")
	aliceTok := &oauth2.Token{AccessToken: "alice-access", RefreshToken: "alice-refresh", Expiry: time.Now().Add(time.Hour)}
	if err := tokensource.NewFileStoreWith(alice, opts).Save(ctx, aliceTok); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(alice)
	if err := os.WriteFile(bob, data, 0o600); err != nil {
		t.Fatal(err)
	}
	tok, err := tokensource.NewFileStoreWith(bob, opts).Load(ctx)
	if !errors.Is(err, tokensource.ErrCorrupt) || tok != nil {
		t.Fatalf("Load of Alice's record under Bob's path = %v, %v; want ErrCorrupt", tok, err)
	}
	if strings.Contains(err.Error(), "alice") {
		t.Errorf("the error shows Alice's token: %v", err)
	}
	if after, _ := os.ReadFile(bob); !bytes.Equal(after, data) {
		t.Error("the refused record was changed")
	}
}

// TestKeyRotation puts a new key first: a record sealed under the old key
// still loads, and the next save seals it under the new one, which the old
// key alone no longer opens.
func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token.json")
	oldKey, newKey := newKey(t), newKey(t)
	oldOnly := &tokensource.FileStoreOptions{Encrypter: newAESGCM(t, oldKey)}
	rotated := &tokensource.FileStoreOptions{Encrypter: newAESGCM(t, newKey, oldKey)}
	tok := &oauth2.Token{AccessToken: "a", RefreshToken: "r", Expiry: time.Now().Add(time.Hour)}
	if err := tokensource.NewFileStoreWith(path, oldOnly).Save(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if got, err := tokensource.NewFileStoreWith(path, rotated).Load(ctx); err != nil || got.AccessToken != "a" {
		t.Fatalf("Load with the new key first = %v, %v; want the record sealed under the old key", got, err)
	}
	tok.AccessToken = "a2"
	if err := tokensource.NewFileStoreWith(path, rotated).Save(ctx, tok); err != nil {
		t.Fatal(err)
	}
	if _, err := tokensource.NewFileStoreWith(path, oldOnly).Load(ctx); !errors.Is(err, tokensource.ErrCorrupt) {
		t.Fatalf("Load with the old key only, after a save under the new one: %v; want ErrCorrupt", err)
	}
	if got, err := tokensource.NewFileStoreWith(path, &tokensource.FileStoreOptions{Encrypter: newAESGCM(t, newKey)}).Load(ctx); err != nil || got.AccessToken != "a2" {
		t.Fatalf("Load with the new key only = %v, %v", got, err)
	}
}

// TestWrongKeyKeepsTheRecord reads an encrypted file with the wrong key,
// and a tampered one: ErrCorrupt, and a Source with Login set backs off
// instead of logging in over a grant a key mistake hid.
func TestWrongKeyKeepsTheRecord(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token.json")
	right := &tokensource.FileStoreOptions{Encrypter: newAESGCM(t, newKey(t))}
	wrong := &tokensource.FileStoreOptions{Encrypter: newAESGCM(t, newKey(t))}
	if err := tokensource.NewFileStoreWith(path, right).Save(ctx, &oauth2.Token{AccessToken: "a", RefreshToken: "r"}); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if _, err := tokensource.NewFileStoreWith(path, wrong).Load(ctx); !errors.Is(err, tokensource.ErrCorrupt) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Load with a wrong key: %v; want ErrCorrupt naming the file", err)
	}
	logins := 0
	src := tokensource.New(func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		return nil, errors.New("no refresh expected")
	}, tokensource.NewFileStoreWith(path, wrong), &tokensource.Options{Login: func(context.Context) (*oauth2.Token, error) {
		logins++
		return &oauth2.Token{AccessToken: "new", RefreshToken: "new"}, nil
	}})
	if _, err := src.TokenContext(ctx); !errors.Is(err, tokensource.ErrCorrupt) {
		t.Fatalf("TokenContext with a wrong key: %v; want ErrCorrupt", err)
	}
	if after, _ := os.ReadFile(path); logins != 0 || !bytes.Equal(after, data) {
		t.Fatalf("logins %d, record changed %v; want no login and the record kept", logins, !bytes.Equal(after, data))
	}

	tampered := bytes.Replace(data, []byte(`"sealed": "`), []byte(`"sealed": "A`), 1)
	if bytes.Equal(tampered, data) {
		tampered = bytes.Replace(data, []byte(`"sealed":"`), []byte(`"sealed":"AAAA`), 1)
	}
	os.WriteFile(path, tampered, 0o600)
	if _, err := tokensource.NewFileStoreWith(path, right).Load(ctx); !errors.Is(err, tokensource.ErrCorrupt) {
		t.Fatalf("Load of a tampered record: %v; want ErrCorrupt", err)
	}
}

// TestPlaintextMigratesToEncrypted switches encryption on over a file
// written in plain text: it loads, and the next save encrypts it; a store
// that requires encryption refuses the plain text.
func TestPlaintextMigratesToEncrypted(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "token.json")
	tok := &oauth2.Token{AccessToken: "plain-access", RefreshToken: "plain-refresh", Expiry: time.Now().Add(time.Hour)}
	if err := tokensource.NewFileStore(path).Save(ctx, tok); err != nil {
		t.Fatal(err)
	}
	enc := newAESGCM(t, newKey(t))
	if _, err := tokensource.NewFileStoreWith(path, &tokensource.FileStoreOptions{Encrypter: enc, RequireEncryption: true}).Load(ctx); !errors.Is(err, tokensource.ErrCorrupt) {
		t.Fatalf("Load of plain text with RequireEncryption: %v; want ErrCorrupt", err)
	}
	store := tokensource.NewFileStoreWith(path, &tokensource.FileStoreOptions{Encrypter: enc})
	if got, err := store.Load(ctx); err != nil || got.AccessToken != tok.AccessToken {
		t.Fatalf("Load of plain text with an Encrypter = %v, %v; want the token", got, err)
	}
	if err := store.Save(ctx, tok); err != nil {
		t.Fatal(err)
	}
	wantSealed(t, path, tok)
	if _, err := tokensource.NewFileStoreWith(path, &tokensource.FileStoreOptions{Encrypter: enc, RequireEncryption: true}).Load(ctx); err != nil {
		t.Fatalf("Load of the encrypted file with RequireEncryption: %v", err)
	}
	if _, err := tokensource.NewFileStore(path).Load(ctx); !errors.Is(err, tokensource.ErrCorrupt) {
		t.Fatalf("Load of the encrypted file without an Encrypter: %v; want ErrCorrupt", err)
	}
}
