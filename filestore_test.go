package tokensource

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/oauth2"
)

// tokenCmp compares the exported fields of tokens. cmp compares the
// expiries with time.Time.Equal, as instants, since a time read back from
// JSON may carry another *time.Location.
var tokenCmp = cmpopts.IgnoreUnexported(oauth2.Token{})

// sampleToken returns a token with every exported field set, its expiry
// given to the nanosecond to catch a format that rounds it.
func sampleToken() *oauth2.Token {
	return &oauth2.Token{
		AccessToken:  "access-1",
		TokenType:    "Bearer",
		RefreshToken: "refresh-1",
		Expiry:       time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600)),
		ExpiresIn:    3600,
	}
}

// tempTokenPath returns a path for a token file in a fresh folder.
func tempTokenPath(t *testing.T) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "token.json")
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestFileStoreLoadReadsOAuth2JSON(t *testing.T) {
	path := tempTokenPath(t)
	for _, want := range []*oauth2.Token{sampleToken(), {AccessToken: "only-access"}} {
		data, err := json.Marshal(*want)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, path, data)
		got, err := NewFileStore(path).Load(context.Background())
		if err != nil {
			t.Fatalf("Load of %s: %v", data, err)
		}
		if diff := cmp.Diff(want, got, tokenCmp); diff != "" {
			t.Errorf("Load of %s (-want +got):\n%s", data, diff)
		}
	}
}

func TestFileStoreLoadMissingFile(t *testing.T) {
	path := tempTokenPath(t)
	_, err := NewFileStore(path).Load(context.Background())
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Load of a missing file: got %v, want ErrNotFound", err)
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
}

func TestFileStoreLoadCorruptFile(t *testing.T) {
	for _, tc := range []struct{ name, content string }{
		{"garbage", "garbage"},
		{"empty", ""},
		{"array", "[]"},
		{"null", "null"},
		{"number access_token", `{"access_token":5}`},
		{"no credential", `{}`},
		{"only token_type", `{"token_type":"Bearer","expiry":"2030-01-01T00:00:00Z"}`},
		{"truncated", `{"access_token":"a","refresh_tok`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempTokenPath(t)
			writeFile(t, path, []byte(tc.content))
			tok, err := NewFileStore(path).Load(context.Background())
			if err == nil {
				t.Fatalf("Load of %q: got %+v, want an error", tc.content, tok)
			}
			if errors.Is(err, ErrNotFound) {
				t.Errorf("Load of %q: got ErrNotFound for a corrupt file: %v", tc.content, err)
			}
			want := "token file " + path + " is corrupt"
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not contain %q", err, want)
			}
			if got := string(readFile(t, path)); got != tc.content {
				t.Errorf("file changed to %q", got)
			}
		})
	}
}

func TestFileStoreCorruptErrorHoldsNoTokenValue(t *testing.T) {
	for _, content := range []string{
		`{"access_token":"secret-AAA", "expiry": "garbage"}`,
		`{"access_token":"a", "expiry": "secret-BBB"}`,
		`{"refresh_token":"secret-CCC", "expires_in": "secret-DDD"}`,
		`{"access_token":"secret-EEE", "expiry": 5}`,
	} {
		path := tempTokenPath(t)
		writeFile(t, path, []byte(content))
		_, err := NewFileStore(path).Load(context.Background())
		if err == nil {
			t.Fatalf("Load of %s: got no error", content)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Load of %s: error %q holds a token value", content, err)
		}
	}
}

func TestFileStoreLoadDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := NewFileStore(tempTokenPath(t)).Load(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Load with a cancelled context: got %v, want context.Canceled", err)
	}
}
