package login_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/oauthkit/tokensource/login"
	"github.com/oauthkit/tokensource/tokensourcetest"
)

// TestBrowserWithHeadlessChromium logs in through the system-browser path
// with a real browser: BROWSER names a wrapper that runs headless Chromium
// on the authorization URL. Chromium follows the server's scripted approval
// to the loopback redirect and lands on the success page, which it dumps;
// no scripted HTTP client is in between. Under CI (CI=true) a missing
// Chromium fails the test; elsewhere it skips.
func TestBrowserWithHeadlessChromium(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the wrapper is a shell script")
	}
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium is missing (apt-get install chromium): %v", err)
		}
		t.Skipf("chromium is not installed (apt-get install chromium): %v", err)
	}
	dir := t.TempDir()
	wrapper := filepath.Join(dir, "browser")
	err = os.WriteFile(wrapper, []byte(`#!/bin/sh
# Opens "$1" as a user's browser would, headless, and keeps the page it lands on.
timeout -k 5 40 "`+chromium+`" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--user-data-dir="`+dir+`/profile" --dump-dom "$1" >"`+dir+`/page.html" 2>"`+dir+`/chromium.log"
echo $? >"`+dir+`/exit.tmp" && mv "`+dir+`/exit.tmp" "`+dir+`/exit"
`), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BROWSER", wrapper)
	// The test returns only once Chromium has, so that no browser outlives it.
	// The wrapper kills Chromium after 40 s.
	t.Cleanup(func() { waitForFile(t, filepath.Join(dir, "exit"), 50*time.Second) })

	srv := tokensourcetest.NewServer(nil)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tok, err := login.Browser(srv.Config(), nil)(ctx)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "chromium.log"))
		t.Fatalf("login through Chromium: %v\nchromium's log:\n%s", err, log)
	}
	if !resourceOK(t, srv, tok) {
		t.Errorf("the token does not work")
	}
	if st := srv.Stats(); st.Authorizations != 1 || st.CodeExchanges != 1 {
		t.Errorf("Authorizations, CodeExchanges = %d, %d, want 1, 1", st.Authorizations, st.CodeExchanges)
	}

	status := waitForFile(t, filepath.Join(dir, "exit"), 50*time.Second)
	page, _ := os.ReadFile(filepath.Join(dir, "page.html"))
	if strings.TrimSpace(status) != "0" || !strings.Contains(string(page), "<h1>Signed in</h1>") {
		log, _ := os.ReadFile(filepath.Join(dir, "chromium.log"))
		t.Errorf("Chromium exited %q on the page %q, want 0 on the success page; its log:\n%s", status, page, log)
	}
}

// waitForFile returns the contents of path once it exists, checking every
// 50 ms for at most d.
func waitForFile(t *testing.T, path string, d time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if b, err := os.ReadFile(path); err == nil {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Errorf("%s did not appear within %v", path, d)
			return ""
		}
		time.Sleep(50 * time.Millisecond)
	}
}
