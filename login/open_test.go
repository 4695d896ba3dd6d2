package login

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBrowserCommands(t *testing.T) {
	const u = "http://127.0.0.1:1/authorize?a=1&b=2"
	tests := []struct {
		goos, env string
		want      [][]string
	}{
		{"linux", "", [][]string{{"xdg-open", u}}},
		{"freebsd", "", [][]string{{"xdg-open", u}}},
		{"darwin", "", [][]string{{"open", u}}},
		{"windows", "firefox", [][]string{{"rundll32", "url.dll,FileProtocolHandler", u}}},
		{"linux", "firefox", [][]string{{"firefox", u}}},
		{"darwin", "firefox", [][]string{{"firefox", u}}},
		{"linux", "w3m -o x=%s:  :chromium --new-window", [][]string{{"w3m", "-o", "x=" + u}, {"chromium", "--new-window", u}}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, browserCommands(tt.goos, tt.env, u)); diff != "" {
			t.Errorf("%s, BROWSER=%q (-want +got):\n%s", tt.goos, tt.env, diff)
		}
	}
}

// script writes an executable shell script into dir and returns its path.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOpenSystemBrowserTriesBROWSERInTurn(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "opened")
	fail := script(t, dir, "fail", "exit 3")
	good := script(t, dir, "good", `printf %s "$1" > "`+out+`"`)
	const u = "http://127.0.0.1:1/authorize?state=a;b&c=$(d)"

	t.Setenv("BROWSER", fail+":"+good)
	if err := OpenSystemBrowser(u); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil || string(got) != u {
		t.Errorf("the browser got %q (%v), want the URL untouched by any shell", got, err)
	}

	t.Setenv("BROWSER", fail)
	err = OpenSystemBrowser(u)
	if err == nil || !strings.Contains(err.Error(), "cannot open a browser") {
		t.Errorf("err = %v, want the failure", err)
	}
}
