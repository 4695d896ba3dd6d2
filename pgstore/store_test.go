package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
)

// tokenCmp compares tokens by their fields, extras included, and times by
// instant.
var tokenCmp = cmp.Comparer(func(a, b *oauth2.Token) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.AccessToken == b.AccessToken && a.TokenType == b.TokenType &&
		a.RefreshToken == b.RefreshToken && a.Expiry.Equal(b.Expiry) && a.ExpiresIn == b.ExpiresIn &&
		a.Extra("id_token") == b.Extra("id_token") && a.Extra("scope") == b.Extra("scope")
})

// fullToken returns a token with every field the stored JSON keeps, and an
// expiry with nanoseconds, in a zone other than UTC.
func fullToken(access string) *oauth2.Token {
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	return (&oauth2.Token{
		AccessToken:  access,
		TokenType:    "Bearer",
		RefreshToken: "refresh-" + access,
		Expiry:       time.Date(2031, 2, 3, 4, 5, 6, 123456789, zone),
		ExpiresIn:    3600,
	}).WithExtra(map[string]any{"id_token": "id-" + access, "scope": "read write"})
}

func TestSaveLoadRoundTripKeepsEveryField(t *testing.T) {
	pool := testPool(t)
	s := New(pool, "acct", newTable(t, pool))
	ctx := context.Background()
	for _, tok := range []*oauth2.Token{
		fullToken("a1"),
		{AccessToken: "a2"},                      // no expiry, no refresh token
		{RefreshToken: "r3", Expiry: time.Now()}, // with a monotonic reading
	} {
		if err := s.Save(ctx, tok); err != nil {
			t.Fatal(err)
		}
		got, err := s.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tok, got, tokenCmp); diff != "" {
			t.Errorf("Load after Save (-saved +loaded):\n%s", diff)
		}
		if got.Expiry.Round(0) != got.Expiry {
			t.Errorf("loaded expiry %v carries a monotonic reading", got.Expiry)
		}
	}
}

// TestStoredRowIsTheRecord checks what other programs read: the token
// column holds the record tokensource.EncodeRecord writes, which
// json.Unmarshal into an oauth2.Token still reads, and the expiry column
// the expiry to the microsecond, or NULL.
func TestStoredRowIsTheRecord(t *testing.T) {
	pool := testPool(t)
	opts := newTable(t, pool)
	ctx := context.Background()
	for _, tok := range []*oauth2.Token{fullToken("a1"), {AccessToken: "a2"}} {
		if err := New(pool, "acct", opts).Save(ctx, tok); err != nil {
			t.Fatal(err)
		}
		var data string
		var expiry *time.Time
		if err := pool.QueryRow(ctx, "SELECT token, expiry FROM "+opts.ident()+" WHERE key = 'acct'").Scan(&data, &expiry); err != nil {
			t.Fatal(err)
		}
		rec, err := tokensource.DecodeRecord([]byte(data))
		if err != nil || rec.Generation == 0 || rec.Token.AccessToken != tok.AccessToken {
			t.Errorf("token column decodes to %+v, %v; want a record of generation > 0 holding %q", rec, err, tok.AccessToken)
		}
		var plain oauth2.Token
		if err := json.Unmarshal([]byte(data), &plain); err != nil || plain.AccessToken != tok.AccessToken {
			t.Errorf("token column as a plain token: %v, %v", plain.AccessToken, err)
		}
		switch {
		case tok.Expiry.IsZero() && expiry != nil:
			t.Errorf("expiry column = %v, want NULL for a token without expiry", expiry)
		case !tok.Expiry.IsZero() && (expiry == nil || !expiry.Equal(tok.Expiry.Truncate(time.Microsecond))):
			t.Errorf("expiry column = %v, want %v", expiry, tok.Expiry.Truncate(time.Microsecond))
		}
	}
}

// TestLegacyRowLoads: a row an earlier version wrote, the JSON of
// MarshalToken in the token column, loads, and a Save replaces it.
func TestLegacyRowLoads(t *testing.T) {
	pool := testPool(t)
	opts := newTable(t, pool)
	ctx := context.Background()
	old, _ := tokensource.MarshalToken(fullToken("legacy"))
	if _, err := pool.Exec(ctx, "INSERT INTO "+opts.ident()+" (key, token, expiry) VALUES ('k', $1, $2)", string(old), fullToken("x").Expiry); err != nil {
		t.Fatal(err)
	}
	s := New(pool, "k", opts)
	got, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fullToken("legacy"), got, tokenCmp); diff != "" {
		t.Errorf("the legacy row (-written +loaded):\n%s", diff)
	}
	data, err := s.Get(ctx)
	if err != nil || string(data) != string(old) {
		t.Errorf("Get = %q, %v; want the row's bytes", data, err)
	}
	if err := s.Put(ctx, data, mustEncode(t, 1, "next")); err != nil {
		t.Errorf("Put over the legacy row: %v", err)
	}
	wantStored(t, pool, opts, "next")
}

func TestKeysHoldTheirOwnTokens(t *testing.T) {
	pool := testPool(t)
	opts := newTable(t, pool)
	ctx := context.Background()
	a, b := New(pool, "a", opts), New(pool, "b", opts)
	if err := a.Save(ctx, fullToken("ta")); err != nil {
		t.Fatal(err)
	}
	if err := b.Save(ctx, fullToken("tb")); err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Load(ctx); err != nil || got.AccessToken != "tb" {
		t.Errorf("b after deleting a: %v, %v; want its own token", got, err)
	}
	if a.lock == b.lock {
		t.Errorf("keys a and b share the lock %v", a.lock)
	}
}

func TestLoadNotFoundNamesTableAndKey(t *testing.T) {
	pool := testPool(t)
	opts := newTable(t, pool)
	_, err := New(pool, "nobody", opts).Load(context.Background())
	if !errors.Is(err, tokensource.ErrNotFound) {
		t.Fatalf("Load of an empty key: %v, want ErrNotFound", err)
	}
	for _, want := range []string{opts.Table, `"nobody"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	wantPackageOnce(t, err)
}

// wantPackageOnce fails t unless err names tokensource once, as a
// tokensource.StoreError does, and no other package.
func wantPackageOnce(t *testing.T, err error) {
	t.Helper()
	if msg := err.Error(); strings.Count(msg, "tokensource:") != 1 || strings.Contains(msg, "pgstore") {
		t.Errorf("error %q: want the package named once", msg)
	}
}

// TestLoadCorruptKeepsTheRow stores what another program might have
// written badly: Load reports it as corrupt, names where, quotes none of it,
// and leaves it for a new login to replace.
func TestLoadCorruptKeepsTheRow(t *testing.T) {
	pool := testPool(t)
	opts := newTable(t, pool)
	ctx := context.Background()
	s := New(pool, "acct", opts)
	for _, data := range []string{
		`{"access_token": "secret-a", "expiry": "secret-x"}`, // not a time
		`{"token_type": "Bearer"}`,                           // nothing to use
		`secret-not-json`,
	} {
		if _, err := pool.Exec(ctx, "INSERT INTO "+opts.ident()+` (key, token) VALUES ('acct', $1)
			ON CONFLICT (key) DO UPDATE SET token = excluded.token`, data); err != nil {
			t.Fatal(err)
		}
		_, err := s.Load(ctx)
		if !errors.Is(err, tokensource.ErrCorrupt) {
			t.Fatalf("Load of %s: %v, want ErrCorrupt", data, err)
		}
		msg := err.Error()
		if !strings.Contains(msg, opts.Table) || !strings.Contains(msg, `"acct"`) || strings.Contains(msg, "secret") {
			t.Errorf("error %q: want the table and key named, and nothing of the row", msg)
		}
		wantPackageOnce(t, err)
		var still string
		if err := pool.QueryRow(ctx, "SELECT token FROM "+opts.ident()+" WHERE key = 'acct'").Scan(&still); err != nil || still != data {
			t.Errorf("the corrupt row became %q, %v", still, err)
		}
	}
}

func TestSaveRefusesATokenWithoutCredentials(t *testing.T) {
	pool, opts, s := savedStore(t, "kept")
	for _, tok := range []*oauth2.Token{{}, {TokenType: "Bearer"}} {
		err := s.Save(context.Background(), tok)
		if err == nil || !strings.Contains(err.Error(), `key "k"`) {
			t.Errorf("Save(%v) = %v, want an error naming the key", tok, err)
		}
	}
	wantStored(t, pool, opts, "kept")
}

func TestDeleteLogsOut(t *testing.T) {
	pool, opts, s := savedStore(t, "a")
	ctx := context.Background()
	for range 2 { // deleting nothing is fine
		if err := s.Delete(ctx); err != nil {
			t.Fatal(err)
		}
	}
	_, err := s.Load(ctx)
	if !errors.Is(err, tokensource.ErrLoggedOut) || !errors.Is(err, tokensource.ErrNotFound) {
		t.Errorf("Load after Delete: %v, want ErrLoggedOut and ErrNotFound", err)
	}
	var expiry *time.Time
	if err := pool.QueryRow(ctx, "SELECT expiry FROM "+opts.ident()+" WHERE key = 'k'").Scan(&expiry); err != nil || expiry != nil {
		t.Errorf("the tombstone's expiry column: %v, %v; want NULL", expiry, err)
	}
	if !lockFree(t, pool, s) {
		t.Error("Delete left the lock held")
	}
}

// TestDeleteDuringARefreshWins: a log-out while another process refreshes
// is not undone by that refresh's save, which is a compare-and-swap
// against the record it read before the log-out.
func TestDeleteDuringARefreshWins(t *testing.T) {
	pool, opts, refresher := savedStore(t, "old")
	ctx := context.Background()
	read, err := refresher.Get(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := New(pool, "k", opts).Delete(ctx); err != nil {
		t.Fatal(err)
	}
	err = refresher.Put(ctx, read, mustEncode(t, 2, "new"))
	if !errors.Is(err, tokensource.ErrConflict) {
		t.Errorf("the refresh's save after the log-out: %v, want ErrConflict", err)
	}
	if tok, err := refresher.Load(ctx); !errors.Is(err, tokensource.ErrLoggedOut) {
		t.Errorf("after the refresh and the log-out: %v, %v; want logged out", tok, err)
	}
}

// TestCreateTableIsIdempotentAndConcurrent: replicas that start together
// all create the table, and the second time changes nothing.
func TestCreateTableIsIdempotentAndConcurrent(t *testing.T) {
	pool := newPool(t, serverURL(t), func(c *pgxpool.Config) { c.MaxConns = 10 })
	ctx := context.Background()
	for i := range 5 { // concurrent creation fails only now and then without the turn-taking
		opts := &Options{Table: "create_" + strings.ToLower(t.Name()) + string(rune('a'+i))}
		dropTable(t, pool, opts)
		t.Cleanup(func() { dropTable(t, pool, opts) })
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				if err := CreateTable(ctx, pool, opts); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if err := New(pool, "k", opts).Save(ctx, fullToken("a")); err != nil {
			t.Fatal(err)
		}
		if err := CreateTable(ctx, pool, opts); err != nil {
			t.Fatal(err)
		}
		if _, err := New(pool, "k", opts).Load(ctx); err != nil {
			t.Errorf("after CreateTable again: %v", err)
		}
	}
}

// TestTableNamesAreQuoted uses a schema and a table whose names are not
// plain identifiers.
func TestTableNamesAreQuoted(t *testing.T) {
	pool := testPool(t)
	ctx := context.Background()
	schema := `Odd "schema"`
	if _, err := pool.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS "Odd ""schema"""`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Exec(context.Background(), `DROP SCHEMA "Odd ""schema""" CASCADE`) })
	opts := &Options{Schema: schema, Table: `Tokens"; DROP TABLE x; --`}
	if err := CreateTable(ctx, pool, opts); err != nil {
		t.Fatal(err)
	}
	s := New(pool, "k", opts)
	if err := s.Save(ctx, fullToken("a")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Load(ctx); err != nil || got.AccessToken != "a" {
		t.Errorf("Load = %v, %v", got, err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM "Odd ""schema"""."Tokens""; DROP TABLE x; --"`).Scan(&n); err != nil || n != 1 {
		t.Errorf("the table as named: %d rows, %v", n, err)
	}
}

// TestSchemaSpellingsShareTheLock: one table named with and without its
// schema is one lock.
func TestSchemaSpellingsShareTheLock(t *testing.T) {
	pool := testPool(t)
	opts := newTable(t, pool)
	bare := New(pool, "k", opts)
	qualified := New(pool, "k", &Options{Schema: "public", Table: opts.Table})
	unlock, err := bare.Lock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if lockFree(t, pool, qualified) {
		t.Error("the schema-qualified store could take the lock the bare one holds")
	}
}

// TestSourceErrorsNamePackagesOnce has a Source fail on the Store at each
// stage that reaches it, loading and locking: its error says the stage,
// names tokensource once (a tokensource.StoreError), the table and the key,
// and quotes no token.
func TestSourceErrorsNamePackagesOnce(t *testing.T) {
	pool := testPool(t)
	opts := newTable(t, pool)
	ctx := context.Background()
	store := New(pool, "acct", opts)
	tok := &oauth2.Token{AccessToken: "secret-a", RefreshToken: "secret-r", Expiry: time.Now().Add(-time.Minute)}
	refresh := func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		return nil, errors.New("no token endpoint")
	}
	check := func(err error, stage string) {
		t.Helper()
		msg := fmt.Sprint(err)
		for _, want := range []string{stage + ": tokensource: ", opts.Table, `key "acct"`} {
			if !strings.Contains(msg, want) {
				t.Errorf("error %q does not say %q", msg, want)
			}
		}
		if strings.Contains(msg, "pgstore") || strings.Count(msg, "tokensource: ") != 1 || strings.Contains(msg, "secret") {
			t.Errorf("error %q: want tokensource named once, and no token", msg)
		}
	}

	if _, err := pool.Exec(ctx, "INSERT INTO "+opts.ident()+` (key, token) VALUES ('acct', $1)`, `{"access_token": "secret-torn`); err != nil {
		t.Fatal(err)
	}
	src := tokensource.New(refresh, store, nil)
	_, err := src.Token()
	check(err, "loading the store")
	_, err = src.Token() // during the backoff
	check(err, "loading the store")

	if err := store.Save(ctx, tok); err != nil {
		t.Fatal(err)
	}
	unlock, err := New(pool, "acct", opts).Lock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	src = tokensource.New(refresh, store, &tokensource.Options{RefreshTimeout: 100 * time.Millisecond})
	_, err = src.Token()
	check(err, "locking the store")
}

func TestNewPanicsOnBadArguments(t *testing.T) {
	pool, err := pgxpool.New(context.Background(), "postgres://127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for name, call := range map[string]func(){
		"nil pool":  func() { New(nil, "k", nil) },
		"empty key": func() { New(pool, "", nil) },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("New with a %s did not panic", name)
				}
			}()
			call()
		}()
	}
}
