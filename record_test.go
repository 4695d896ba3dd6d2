package tokensource_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/records/*.golden")

func goldenToken() *oauth2.Token {
	return &oauth2.Token{
		AccessToken:  "golden-access",
		TokenType:    "Bearer",
		RefreshToken: "golden-refresh",
		Expiry:       time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// TestEncodeRecordGolden pins the bytes every store keeps for a token, a
// tombstone, a record with an intent, and the cooldown of a failed login,
// alone and beside a tombstone.
func TestEncodeRecordGolden(t *testing.T) {
	cases := map[string]*tokensource.Record{
		"token":     {Generation: 3, Token: goldenToken()},
		"tombstone": {Generation: 4, LoggedOut: true},
		"intent": {Generation: 5, Token: goldenToken(), Intent: &tokensource.Intent{
			Refresh: tokensource.Fingerprint("golden-refresh"),
			Since:   time.Date(2030, 1, 2, 3, 0, 0, 0, time.UTC),
			Owner:   "owner-1",
		}},
		"cooldown":           {Generation: 6, LoginRetryAt: time.Date(2030, 1, 2, 3, 1, 0, 0, time.UTC)},
		"tombstone-cooldown": {Generation: 7, LoggedOut: true, LoginRetryAt: time.Date(2030, 1, 2, 3, 1, 0, 0, time.UTC)},
	}
	for name, rec := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := tokensource.EncodeRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "records", name+".golden")
			if *updateGolden {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("EncodeRecord:\n%s\nwant:\n%s", got, want)
			}
			back, err := tokensource.DecodeRecord(want)
			if err != nil {
				t.Fatal(err)
			}
			if back.Generation != rec.Generation || back.LoggedOut != rec.LoggedOut || (back.Intent == nil) != (rec.Intent == nil) {
				t.Fatalf("decoded %+v, want %+v", back, rec)
			}
			if rec.Token != nil && (back.Token.AccessToken != rec.Token.AccessToken || back.Token.RefreshToken != rec.Token.RefreshToken || !back.Token.Expiry.Equal(rec.Token.Expiry)) {
				t.Fatalf("decoded token %+v, want %+v", back.Token, rec.Token)
			}
			if !back.LoginRetryAt.Equal(rec.LoginRetryAt) || (back.Token == nil) != (rec.Token == nil) {
				t.Fatalf("decoded %+v, want %+v", back, rec)
			}
			if rec.Intent != nil && (*back.Intent != *rec.Intent) {
				t.Fatalf("decoded intent %+v, want %+v", back.Intent, rec.Intent)
			}
		})
	}
}

// TestDecodeRecordPlainToken reads today's MarshalToken JSON and the JSON of
// json.Marshal(*oauth2.Token) as records of generation 0.
func TestDecodeRecordPlainToken(t *testing.T) {
	tok := goldenToken()
	marshalled, err := tokensource.MarshalToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"MarshalToken": marshalled, "json.Marshal": plain} {
		rec, err := tokensource.DecodeRecord(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if rec.Generation != 0 || rec.LoggedOut || rec.Intent != nil || rec.Token == nil {
			t.Fatalf("%s: record %+v, want generation 0 with a token", name, rec)
		}
		if rec.Token.AccessToken != tok.AccessToken || rec.Token.RefreshToken != tok.RefreshToken || !rec.Token.Expiry.Equal(tok.Expiry) {
			t.Fatalf("%s: token %+v, want %+v", name, rec.Token, tok)
		}
	}
}

// TestDecodeRecordErrors: a newer record_version is ErrCorrupt, and no
// decode error quotes a token value.
func TestDecodeRecordErrors(t *testing.T) {
	const secret = "s3cr3t-token-value"
	inputs := map[string]string{
		"newer version": `{"access_token":"` + secret + `","refresh_token":"` + secret + `","record_version":2,"generation":1}`,
		"bad type":      `{"access_token":"` + secret + `","refresh_token":"` + secret + `","generation":"` + secret + `"}`,
		"bad expiry":    `{"access_token":"` + secret + `","expiry":"` + secret + `"}`,
		"truncated":     `{"access_token":"` + secret,
		"no credential": `{"token_type":"` + secret + `"}`,
		"not json":      secret,
		"bad intent":    `{"access_token":"a","intent":{"refresh":"` + secret + `","since":"` + secret + `"}}`,
	}
	for name, in := range inputs {
		_, err := tokensource.DecodeRecord([]byte(in))
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		if !errors.Is(err, tokensource.ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), secret) {
			t.Errorf("%s: error quotes the token: %v", name, err)
		}
	}
}

// TestFingerprint: stable, one-way, distinct per token, "" for "".
func TestFingerprint(t *testing.T) {
	const rt = "refresh-token-abc"
	a, b := tokensource.Fingerprint(rt), tokensource.Fingerprint(rt)
	if a != b || a == "" {
		t.Fatalf("Fingerprint not stable: %q %q", a, b)
	}
	sum := sha256.Sum256([]byte(rt))
	if want := hex.EncodeToString(sum[:16]); a != want {
		t.Fatalf("Fingerprint = %q, want %q (first 16 bytes of SHA-256)", a, want)
	}
	if strings.Contains(a, rt) || strings.Contains(a, hex.EncodeToString([]byte(rt))) {
		t.Fatalf("Fingerprint %q reveals the token", a)
	}
	if tokensource.Fingerprint(rt+"x") == a {
		t.Fatal("different tokens, same fingerprint")
	}
	if tokensource.Fingerprint("") != "" {
		t.Fatal(`Fingerprint("") != ""`)
	}
	if len(a) != 32 {
		t.Fatalf("len = %d, want 32", len(a))
	}
}

func storedRecord(t *testing.T, b tokensource.Backend) *tokensource.Record {
	t.Helper()
	data, err := b.Get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rec, err := tokensource.DecodeRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// TestRecordsSaveDelete: Save bumps the generation; Delete leaves a tombstone.
func TestRecordsSaveDelete(t *testing.T) {
	ctx := context.Background()
	for name, st := range map[string]interface {
		tokensource.Store
		tokensource.Backend
		Delete(context.Context) error
	}{
		"memory": tokensource.NewMemoryStore(),
		"file":   tokensource.NewFileStore(filepath.Join(t.TempDir(), "tok.json")),
	} {
		t.Run(name, func(t *testing.T) {
			for i := 1; i <= 3; i++ {
				if err := st.Save(ctx, goldenToken()); err != nil {
					t.Fatal(err)
				}
				if g := storedRecord(t, st).Generation; g != int64(i) {
					t.Fatalf("after save %d: generation %d", i, g)
				}
			}
			if err := st.Delete(ctx); err != nil {
				t.Fatal(err)
			}
			rec := storedRecord(t, st)
			if !rec.LoggedOut || rec.Token != nil || rec.Generation != 4 {
				t.Fatalf("after Delete: %+v, want a tombstone of generation 4", rec)
			}
			_, err := st.Load(ctx)
			if !errors.Is(err, tokensource.ErrLoggedOut) || !errors.Is(err, tokensource.ErrNotFound) {
				t.Fatalf("Load after Delete: %v, want ErrLoggedOut and ErrNotFound", err)
			}
		})
	}
}

// TestRecordsConcurrentSaves: every concurrent Save succeeds, and each one
// bumps the generation exactly once.
func TestRecordsConcurrentSaves(t *testing.T) {
	ctx := context.Background()
	for name, st := range map[string]interface {
		tokensource.Store
		tokensource.Backend
	}{
		"memory": tokensource.NewMemoryStore(),
		"file":   tokensource.NewFileStore(filepath.Join(t.TempDir(), "tok.json")),
	} {
		t.Run(name, func(t *testing.T) {
			if err := st.Save(ctx, goldenToken()); err != nil {
				t.Fatal(err)
			}
			const n = 16
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Go(func() {
					tok := goldenToken()
					tok.AccessToken = fmt.Sprint("access-", i)
					errs <- st.Save(ctx, tok)
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("Save: %v", err)
				}
			}
			if g := storedRecord(t, st).Generation; g != n+1 {
				t.Fatalf("generation %d, want %d", g, n+1)
			}
		})
	}
}
