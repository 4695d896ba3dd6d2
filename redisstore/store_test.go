package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
)

var tokenCmp = cmpopts.IgnoreUnexported(oauth2.Token{})

// sampleToken returns a token with every field the JSON keeps, its expiry
// to the nanosecond in a zone other than UTC.
func sampleToken(access string) *oauth2.Token {
	return (&oauth2.Token{
		AccessToken:  access,
		TokenType:    "Bearer",
		RefreshToken: "refresh-" + access,
		Expiry:       time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", 3600)),
		ExpiresIn:    3600,
	}).WithExtra(map[string]any{"id_token": "id-" + access, "scope": "read write"})
}

func mustSave(t testing.TB, s *Store, tok *oauth2.Token) {
	t.Helper()
	if err := s.Save(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
}

func mustLoad(t testing.TB, s *Store) *oauth2.Token {
	t.Helper()
	tok, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// wantStoreError fails t unless err is a *tokensource.StoreError that
// names the Redis key, whose message names a package once, at its start,
// and quotes none of the secrets.
func wantStoreError(t testing.TB, err error, key string, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	var se *tokensource.StoreError
	if !errors.As(err, &se) {
		t.Errorf("error %q (%T) is not a *tokensource.StoreError", err, err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "tokensource: ") || strings.Count(msg, "tokensource:")+strings.Count(msg, "redisstore:") != 1 {
		t.Errorf("error %q does not name the package once, at its start", msg)
	}
	if !strings.Contains(msg, fmt.Sprintf("%q", key)) {
		t.Errorf("error %q does not name the key %s", msg, key)
	}
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			t.Errorf("error %q quotes %q", msg, s)
		}
	}
}

func TestSaveLoadDeleteRoundTrip(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	s := New(client, uniqueKey(t), nil)
	want := sampleToken("a1")
	mustSave(t, s, want)

	got := mustLoad(t, s)
	if diff := cmp.Diff(want, got, tokenCmp); diff != "" {
		t.Errorf("Load after Save (-want +got):\n%s", diff)
	}
	for _, k := range []string{"id_token", "scope"} {
		if got.Extra(k) != want.Extra(k) {
			t.Errorf("Extra(%q) = %v, want %v", k, got.Extra(k), want.Extra(k))
		}
	}

	if err := s.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := s.Load(ctx)
	if !errors.Is(err, tokensource.ErrLoggedOut) || !errors.Is(err, tokensource.ErrNotFound) {
		t.Fatalf("Load after Delete: %v, want ErrLoggedOut and ErrNotFound", err)
	}
	wantStoreError(t, err, s.TokenKey())
	if err := s.Delete(ctx); err != nil {
		t.Errorf("Delete after Delete: %v", err)
	}
	if n := client.Exists(ctx, s.LockKey()).Val(); n != 0 {
		t.Errorf("after Delete, the lease key %s exists", s.LockKey())
	}
	empty := New(client, uniqueKey(t), nil)
	if _, err := empty.Load(ctx); !errors.Is(err, tokensource.ErrNotFound) || errors.Is(err, tokensource.ErrLoggedOut) {
		t.Errorf("Load of an empty key: %v, want ErrNotFound and not ErrLoggedOut", err)
	} else {
		wantStoreError(t, err, empty.TokenKey())
	}
}

// TestStoredRecord pins what the token key holds: the record of
// tokensource.EncodeRecord, the format of every store, with no expiry.
func TestStoredRecord(t *testing.T) {
	client := newClient(t)
	s := New(client, uniqueKey(t), nil)
	tok := sampleToken("a1")
	mustSave(t, s, tok)
	want, err := tokensource.EncodeRecord(&tokensource.Record{Generation: 1, Token: tok})
	if err != nil {
		t.Fatal(err)
	}
	got, err := client.Get(context.Background(), s.TokenKey()).Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("%s holds\n%s\nwant\n%s", s.TokenKey(), got, want)
	}
	if ttl := client.TTL(context.Background(), s.TokenKey()).Val(); ttl != -1 {
		t.Errorf("the token key has TTL %v, want none", ttl)
	}
}

func TestTimestampsPreserved(t *testing.T) {
	s := New(newClient(t), uniqueKey(t), nil)
	for _, expiry := range []time.Time{
		time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("X", -5*3600-1800)),
		time.Date(2031, 5, 6, 7, 8, 9, 1, time.UTC),
		time.Now(), // with a monotonic reading, which is not stored
		{},         // no expiry
	} {
		mustSave(t, s, &oauth2.Token{AccessToken: "a", Expiry: expiry})
		got := mustLoad(t, s).Expiry
		if !got.Equal(expiry) || got.Nanosecond() != expiry.Nanosecond() {
			t.Errorf("saved expiry %v, loaded %v", expiry, got)
		}
		if _, off := got.Zone(); off != func() int { _, o := expiry.Zone(); return o }() {
			t.Errorf("saved expiry %v, loaded %v: the offset changed", expiry, got)
		}
	}
}

func TestKeyNames(t *testing.T) {
	s := New(newClient(t), "account:42", nil)
	if s.TokenKey() != "{account:42}:token" || s.LockKey() != "{account:42}:lock" {
		t.Errorf("keys %q and %q, want {account:42}:token and {account:42}:lock", s.TokenKey(), s.LockKey())
	}
}

func TestLoadCorruptNamesKeyAndKeepsIt(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	s := New(client, uniqueKey(t), nil)
	const garbage = `{"access_token": "secret-at", "expiry": "secret-not-a-time"}`
	client.Set(ctx, s.TokenKey(), garbage, 0)

	_, err := s.Load(ctx)
	if !errors.Is(err, tokensource.ErrCorrupt) {
		t.Fatalf("Load: %v, want ErrCorrupt", err)
	}
	wantStoreError(t, err, s.TokenKey(), "secret")
	if got := client.Get(ctx, s.TokenKey()).Val(); got != garbage {
		t.Errorf("Load changed the corrupt value to %q", got)
	}
}

func TestSaveRefusesTokenWithoutCredential(t *testing.T) {
	ctx := context.Background()
	s := New(newClient(t), uniqueKey(t), nil)
	mustSave(t, s, sampleToken("a1"))
	for _, tok := range []*oauth2.Token{{TokenType: "Bearer", Expiry: time.Now()}} {
		err := s.Save(ctx, tok)
		wantStoreError(t, err, s.TokenKey())
		if got := mustLoad(t, s); got.AccessToken != "a1" {
			t.Errorf("after a refused Save, the store holds %q", got.AccessToken)
		}
	}
}

// TestErrorsNameKeyWhenServerIsDown checks every operation against an
// address nothing listens on.
func TestErrorsNameKeyWhenServerIsDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	redisAddr(t)
	client := clientWith(t, &redis.Options{Addr: freeAddr(t), MaxRetries: -1, DialerRetries: 1})
	s := New(client, uniqueKey(t), nil)
	tok := sampleToken("secret-access")

	_, err := s.Load(ctx)
	wantStoreError(t, err, s.TokenKey())
	wantStoreError(t, s.Save(ctx, tok), s.TokenKey(), "secret")
	_, err = s.Lock(ctx)
	wantStoreError(t, err, s.LockKey())
	wantStoreError(t, s.Delete(ctx), s.TokenKey())
}

func TestNewPanicsOnBadArguments(t *testing.T) {
	for name, f := range map[string]func(){
		"nil client": func() { New(nil, "k", nil) },
		"empty key":  func() { New(clientFor(t, "127.0.0.1:1"), "", nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "redisstore: ") {
					t.Errorf("panic %v, want one naming the package", r)
				}
			}()
			f()
		})
	}
}

// TestSourceErrorsNamePackagesOnce has a Source fail on the Store at each
// stage that reaches it, loading and locking: its error says the stage,
// names the key, and a package once, and quotes no token.
func TestSourceErrorsNamePackagesOnce(t *testing.T) {
	ctx := context.Background()
	client := newClient(t)
	key := uniqueKey(t)
	store := New(client, key, nil)
	tok := &oauth2.Token{AccessToken: "secret-a", RefreshToken: "secret-r", Expiry: time.Now().Add(-time.Minute)}
	refresh := func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		return nil, errors.New("no token endpoint")
	}
	check := func(err error, stage, key string) {
		t.Helper()
		msg := fmt.Sprint(err)
		if !strings.Contains(msg, stage+": tokensource: ") || !strings.Contains(msg, fmt.Sprintf("%q", key)) {
			t.Errorf("error %q does not say %q and the key %s", msg, stage, key)
		}
		if strings.Count(msg, "tokensource: ") != 1 || strings.Contains(msg, "redisstore: ") || strings.Contains(msg, "secret") {
			t.Errorf("error %q: want tokensource named once, and no token", msg)
		}
	}

	if err := client.Set(ctx, store.TokenKey(), `{"access_token": "secret-torn`, 0).Err(); err != nil {
		t.Fatal(err)
	}
	src := tokensource.New(refresh, store, nil)
	_, err := src.Token()
	check(err, "loading the store", store.TokenKey())
	_, err = src.Token() // during the backoff
	check(err, "loading the store", store.TokenKey())

	mustSave(t, store, tok)
	unlock, err := New(client, key, nil).Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	src = tokensource.New(refresh, store, &tokensource.Options{RefreshTimeout: 100 * time.Millisecond})
	_, err = src.Token()
	check(err, "locking the store", store.LockKey())
}
