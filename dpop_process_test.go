package tokensource_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// dpopChild is what the child of TestDPoPProcessesShareOneKey needs.
type dpopChild struct {
	Path   string
	Key    []byte // the file's AES key
	Config *oauth2.Config
}

// TestDPoPProcessesShareOneKey: a process refreshes a DPoP grant in an
// encrypted token file, which binds its refresh token to the generated key;
// another process then refreshes it, which the server accepts only with
// the same key; then the first again. The file shows neither the tokens nor
// the key.
func TestDPoPProcessesShareOneKey(t *testing.T) {
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{DPoP: true})
	defer srv.Close()
	ctx := context.Background()
	key := make([]byte, 32)
	rand.Read(key)
	enc, err := tokensource.NewAESGCM(key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "token.json")
	opts := &tokensource.FileStoreOptions{Encrypter: enc}
	if err := tokensource.NewFileStoreWith(path, opts).Save(ctx, srv.Login()); err != nil {
		t.Fatal(err)
	}
	src := tokensource.FromConfig(ctx, srv.Config(), tokensource.NewFileStoreWith(path, opts), &tokensource.Options{DPoP: &tokensource.DPoPOptions{}})
	if _, err := src.Refresh(ctx); err != nil {
		t.Fatal(err)
	}

	other := storetest.StartChild(t, "TestDPoPChild", dpopChild{Path: path, Key: key, Config: srv.Config()}, nil)
	other.Await(t, "DPOPCHILD REFRESHED")
	other.Report(t, nil)

	// The first Refresh adopts the other's token; the second refreshes it.
	var tok *oauth2.Token
	for range 2 {
		if tok, err = src.Refresh(ctx); err != nil {
			t.Fatalf("the first process after the other's refresh: %v", err)
		}
	}
	if st := srv.Stats(); st.Refreshes != 3 || st.DPoPProofsRejected != 0 || st.ReuseDetected != 0 {
		t.Errorf("server stats %+v: want 3 refreshes with one key", st)
	}
	data, _ := os.ReadFile(path)
	for _, v := range []string{tok.AccessToken, tok.RefreshToken, `"d"`, "dpop_key"} {
		if strings.Contains(string(data), v) {
			t.Errorf("the encrypted file shows %q", v)
		}
	}
}

// TestDPoPChild is the other process of TestDPoPProcessesShareOneKey.
func TestDPoPChild(t *testing.T) {
	var c dpopChild
	if !storetest.ChildSpec(t, &c) {
		t.Skip("the child of TestDPoPProcessesShareOneKey")
	}
	enc, err := tokensource.NewAESGCM(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	defer tr.CloseIdleConnections() // no goroutine left for the leak check
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: tr})
	store := tokensource.NewFileStoreWith(c.Path, &tokensource.FileStoreOptions{Encrypter: enc})
	src := tokensource.FromConfig(ctx, c.Config, store, &tokensource.Options{DPoP: &tokensource.DPoPOptions{}})
	if _, err := src.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	fmt.Println("DPOPCHILD REFRESHED")
}
