package keyringstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zalando/go-keyring"
	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
)

// hangBound is how long a test waits for what must happen before it calls
// it a hang. It is never how long something takes.
const hangBound = 30 * time.Second

// testUser is the user of the tests' Stores; each test has services of
// its own.
const testUser = "account-42"

// testCtx returns a context that ends when t does, or after hangBound.
func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), hangBound)
	t.Cleanup(cancel)
	return ctx
}

// uniqueService returns a keyring service that no other test, or earlier
// run, uses.
func uniqueService(t testing.TB) string {
	var b [6]byte
	rand.Read(b[:])
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	return "keyringstore-test:" + name + ":" + hex.EncodeToString(b[:])
}

// newStore returns a Store of testUser on a service of t's own, in the
// tests' keyring, with opts; the items of the service are deleted when t
// ends.
func newStore(t testing.TB, opts *Options) *Store {
	t.Helper()
	needKeyring(t)
	return storeOn(t, uniqueService(t), opts)
}

// storeOn returns a Store of testUser on service, with opts; the items
// of the service are deleted when t ends.
func storeOn(t testing.TB, service string, opts *Options) *Store {
	t.Cleanup(func() { keyring.DeleteAll(service) })
	return New(service, testUser, opts)
}

// sampleToken returns a token whose values hold id, with an ID token of
// about size bytes, to make its record as large as a test needs.
func sampleToken(id string, size int) *oauth2.Token {
	idToken := "secret-id-" + id + "-" + strings.Repeat("x", max(size-len(id), 0))
	return (&oauth2.Token{
		AccessToken:  "secret-at-" + id,
		TokenType:    "Bearer",
		RefreshToken: "secret-rt-" + id,
		Expiry:       time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600)),
	}).WithExtra(map[string]any{"id_token": idToken, "scope": "read write"})
}

func mustSave(t testing.TB, s *Store, tok *oauth2.Token) {
	t.Helper()
	if err := s.Save(testCtx(t), tok); err != nil {
		t.Fatal(err)
	}
}

func mustLoad(t testing.TB, s *Store) *oauth2.Token {
	t.Helper()
	tok, err := s.Load(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// wantToken fails t unless got is want, as far as the record keeps it.
func wantToken(t testing.TB, got, want *oauth2.Token) {
	t.Helper()
	if got.AccessToken != want.AccessToken || got.RefreshToken != want.RefreshToken ||
		!got.Expiry.Equal(want.Expiry) || got.Extra("id_token") != want.Extra("id_token") {
		t.Fatalf("loaded the token of access %.20q…; want that of %.20q…", got.AccessToken, want.AccessToken)
	}
}

// rawIndex returns the value of s's index item, as stored, and the index
// it holds.
func rawIndex(t testing.TB, s *Store) (string, index) {
	t.Helper()
	v, err := keyring.Get(s.Service(), s.User())
	if err != nil {
		t.Fatalf("the index item: %v", err)
	}
	idx, ours, err := parseIndex(v)
	if err != nil || !ours {
		t.Fatalf("the index item holds no index (%v)", err)
	}
	return v, idx
}

// rawChunks returns the values of the chunks idx names, failing t if one
// is missing.
func rawChunks(t testing.TB, s *Store, idx index) []string {
	t.Helper()
	var out []string
	for n := range idx.Chunks {
		v, err := keyring.Get(s.Service(), chunkUser(s.User(), idx.ID, n))
		if err != nil {
			t.Fatalf("chunk %d of %d: %v", n+1, idx.Chunks, err)
		}
		out = append(out, v)
	}
	return out
}

// wantGone fails t unless none of the chunks of id, up to n, is stored.
func wantGone(t testing.TB, s *Store, id string, n int) {
	t.Helper()
	for i := range n {
		if _, err := keyring.Get(s.Service(), chunkUser(s.User(), id, i)); !errors.Is(err, keyring.ErrNotFound) {
			t.Errorf("chunk %d of id %s: %v; want it deleted", i+1, id, err)
		}
	}
}

// wantStoreError fails t unless err is a *tokensource.StoreError that
// names s, whose message names a package once, at its start, and quotes
// no token value of the tests.
func wantStoreError(t testing.TB, err error, s *Store) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var se *tokensource.StoreError
	if !errors.As(err, &se) {
		t.Errorf("error %q (%T) is not a *tokensource.StoreError", err, err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "tokensource: ") || strings.Count(msg, "tokensource:")+strings.Count(msg, "keyringstore:") != 1 {
		t.Errorf("error %q does not name the package once, at its start", msg)
	}
	if !strings.Contains(msg, s.Where()) {
		t.Errorf("error %q does not name the store, %s", msg, s.Where())
	}
	if strings.Contains(msg, "secret-") {
		t.Errorf("error %q quotes a token value", msg)
	}
}

// faulty is a keyring whose calls fail on demand, over the real one.
type faulty struct {
	provider
	mu       sync.Mutex
	sets     int      // Sets so far
	failSet  int      // the Set that fails, counting from 1; 0: none
	landed   bool     // the failing Set writes all the same, as when its reply is lost
	written  []string // the users of the Sets, failed or not
	onGet    func(user string)
	noDelete bool // every Delete fails
}

func (f *faulty) Delete(service, user string) error {
	if f.noDelete {
		return fmt.Errorf("delete: %w", errInjected)
	}
	return f.provider.Delete(service, user)
}

var errInjected = errors.New("injected failure")

func (f *faulty) Set(service, user, value string) error {
	f.mu.Lock()
	f.sets++
	fail := f.sets == f.failSet
	f.written = append(f.written, user)
	f.mu.Unlock()
	if !fail {
		return f.provider.Set(service, user, value)
	}
	if f.landed {
		if err := f.provider.Set(service, user, value); err != nil {
			return err
		}
	}
	return fmt.Errorf("set %d: %w", f.sets, errInjected)
}

func (f *faulty) Get(service, user string) (string, error) {
	f.mu.Lock()
	onGet := f.onGet
	f.mu.Unlock()
	if onGet != nil {
		onGet(user)
	}
	return f.provider.Get(service, user)
}
