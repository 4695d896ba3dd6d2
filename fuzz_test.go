package tokensource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// fuzzSecrets are token values that the seed corpora in testdata/fuzz
// place in their inputs, as JSON string values, form values, in bodies
// that are cut short, and in fields of the wrong type. No error may quote
// one: errors are logged, and a token file or a token response holds live
// credentials.
var fuzzSecrets = []string{"at-SECRET-fuzz-1", "rt-SECRET-fuzz-2"}

// FuzzFileStoreDecode writes arbitrary bytes to a token file and loads it.
// Load must not panic or change the file; it either fails with an error
// that says the file at its path is corrupt and quotes no token, or returns
// a token that has a credential, that x/oauth2 reads the same way from the
// same bytes, and that a Save and a Load give back unchanged.
func FuzzFileStoreDecode(f *testing.F) {
	dir := f.TempDir()
	path := filepath.Join(dir, "token.json")
	copyPath := filepath.Join(dir, "copy.json")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		writeFile(t, path, data)
		tok, err := NewFileStore(path).Load(ctx)
		if got := readFile(t, path); !bytes.Equal(got, data) {
			t.Fatalf("Load changed the file")
		}
		if err != nil {
			msg := err.Error()
			if errors.Is(err, ErrNotFound) || !strings.Contains(msg, fmt.Sprintf("token file %q: the stored token is corrupt", path)) {
				t.Fatalf("Load: %v; want an error saying the file at %s is corrupt", err, path)
			}
			for _, secret := range fuzzSecrets {
				if strings.Contains(msg, secret) {
					t.Fatalf("Load error quotes the token %s: %v", secret, err)
				}
			}
			return
		}
		if tok.AccessToken == "" && tok.RefreshToken == "" {
			t.Fatalf("Load returned a token with no credential: %+v", tok)
		}

		var std oauth2.Token
		if err := json.Unmarshal(data, &std); err != nil {
			t.Fatalf("FileStore loads a file that x/oauth2's token cannot be read from: %v", err)
		}
		if diff := cmp.Diff(&std, tok, tokenCmp); diff != "" {
			t.Fatalf("FileStore and json.Unmarshal read different tokens (-x/oauth2 +FileStore):\n%s", diff)
		}

		copyStore := NewFileStore(copyPath)
		if err := copyStore.Save(ctx, tok); err != nil {
			t.Fatalf("Save of a loaded token: %v", err)
		}
		back, err := copyStore.Load(ctx)
		if err != nil {
			t.Fatalf("Load of a saved token: %v", err)
		}
		if diff := cmp.Diff(tok, back, tokenCmp); diff != "" {
			t.Fatalf("Save and Load changed the token (-loaded +reloaded):\n%s", diff)
		}
		for _, key := range []string{"id_token", "scope"} {
			if a, b := tok.Extra(key), back.Extra(key); a != b {
				t.Fatalf("Save and Load changed %s from %#v to %#v", key, a, b)
			}
		}
	})
}

// The secrets of the requests of FuzzTokenResponse: the refresh token sent,
// the access token that goes with it, and the client secret. A response may
// echo them anywhere; no error may hold them.
const (
	fuzzStoredRefresh = "rt-SECRET-stored-3"
	fuzzStoredAccess  = "at-SECRET-stored-4"
	fuzzClientSecret  = "cs-SECRET-client-5"
)

// fuzzRequestSecrets are the secrets an error may never show.
var fuzzRequestSecrets = []string{fuzzStoredRefresh, fuzzStoredAccess, fuzzClientSecret}

// fuzzResponse is what the token endpoint of FuzzTokenResponse responds.
type fuzzResponse struct {
	status                  int
	contentType, retryAfter string
	body                    []byte
}

// FuzzTokenResponse feeds token endpoint responses (status, Content-Type,
// Retry-After, body) to parseTokenResponse, and through a real HTTP
// exchange to a Source made by FromConfig. Neither may panic. A response is
// either a token with an access token, from a 2xx status, or an error that
// quotes no token of the body beyond what its error and error_description
// fields hold (which the message shows, by design), nor any secret of the
// request, even where those fields echo it. A refresh sends one request, or two when auto-detection retries a
// refused client; a token just obtained is served again without a request.
func FuzzTokenResponse(f *testing.F) {
	var response atomic.Pointer[fuzzResponse]
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		a := response.Load()
		w.Header().Set("Content-Type", a.contentType)
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
		w.Write(a.body)
	}))
	f.Cleanup(srv.Close)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, srv.Client())
	conf := &oauth2.Config{ClientID: "client", ClientSecret: fuzzClientSecret, Endpoint: oauth2.Endpoint{TokenURL: srv.URL}}

	f.Fuzz(func(t *testing.T, status int, contentType, retryAfterHeader string, body []byte) {
		clock := newTestClock()
		allowed := quotable(contentType, body)

		// The parser alone, with any status at all.
		resp := &http.Response{
			StatusCode: status,
			Status:     fmt.Sprintf("%d %s", status, http.StatusText(status)),
			Header:     http.Header{"Content-Type": {contentType}, "Retry-After": {retryAfterHeader}},
		}
		tok, err := parseTokenResponse(context.Background(), nil, resp, body, fuzzRequestSecrets...)
		switch {
		case (tok == nil) == (err == nil):
			t.Fatalf("parseTokenResponse returned %v and %v", tok, err)
		case err != nil:
			checkFuzzError(t, err, allowed)
			if d, ok := retryAfter(classify(err), clock.Now()); ok && (d < 0 || d > retryAfterMax) {
				t.Fatalf("Retry-After %q gives a wait of %v", retryAfterHeader, d)
			}
		case tok.AccessToken == "" || status < 200 || status > 299:
			t.Fatalf("parseTokenResponse of a %d response returned access token %q", status, tok.AccessToken)
		}

		// The same response from a server, through a Source. Statuses a
		// server cannot send as a final response are moved into 200-599.
		if status < 200 || status > 599 {
			status = 200 + int(uint(status)%400)
		}
		response.Store(&fuzzResponse{status, contentType, retryAfterHeader, body})
		requests.Store(0)
		expired := &oauth2.Token{AccessToken: fuzzStoredAccess, RefreshToken: fuzzStoredRefresh, Expiry: clock.Now().Add(-time.Minute)}
		src := FromConfig(ctx, conf, storeWith(t, expired), &Options{Now: clock.Now, RefreshTimeout: 10 * time.Second})
		tok, err = src.Token()
		n := requests.Load()
		if n != 1 && (n != 2 || (status != http.StatusUnauthorized && !slices.Contains(allowed, "invalid_client"))) {
			t.Fatalf("one refresh sent %d token requests", n)
		}
		if err != nil {
			checkFuzzError(t, err, allowed)
			// Again, now in the backoff, or refused for good.
			_, err = src.Token()
			checkFuzzError(t, err, allowed)
			return
		}
		if tok.AccessToken == "" || status < 200 || status > 299 {
			t.Fatalf("Token after a %d response returned access token %q", status, tok.AccessToken)
		}
		again, err := src.Token()
		if err != nil || !sameToken(again, tok) || requests.Load() != n {
			t.Fatalf("a token just obtained (expires_in %d) was not served again: %v, %v, %d requests",
				tok.ExpiresIn, again, err, requests.Load()-n)
		}
	})
}

// quotable returns the texts that an error about the response body may quote:
// its error, error_description and error_uri fields, however the body is
// read.
func quotable(contentType string, body []byte) []string {
	var texts []string
	for _, ct := range []string{contentType, "application/json", "application/x-www-form-urlencoded"} {
		fields, _ := decodeFields(ct, body)
		texts = append(texts, fields.str("error"), fields.str("error_description"), fields.str("error_uri"))
	}
	return texts
}

// checkFuzzError fails t if err, or an error it wraps, holds a secret of
// fuzzRequestSecrets, or a token of fuzzSecrets that is not part of an
// allowed text.
func checkFuzzError(t *testing.T, err error, allowed []string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var msgs []string
	eachError(err, func(e error) {
		msgs = append(msgs, e.Error())
	})
	for _, secret := range slices.Concat(fuzzSecrets, fuzzRequestSecrets) {
		if !slices.Contains(fuzzRequestSecrets, secret) && isAllowed(secret, allowed) {
			continue
		}
		for _, msg := range msgs {
			if strings.Contains(msg, secret) {
				t.Fatalf("error quotes the token %s: %s", secret, msg)
			}
		}
	}
}

func isAllowed(secret string, allowed []string) bool {
	for _, text := range allowed {
		if strings.Contains(text, secret) {
			return true
		}
	}
	return false
}
