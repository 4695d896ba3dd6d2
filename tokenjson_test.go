package tokensource

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/oauth2"
)

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

func TestFileStoreFileReadsAsOAuth2Token(t *testing.T) {
	path := tempTokenPath(t)
	want := sampleToken().WithExtra(map[string]any{"id_token": "id-1", "scope": "a b"})
	mustSave(t, NewFileStore(path), want)
	data := readFile(t, path)
	if !strings.HasSuffix(string(data), "}\n") {
		t.Errorf("file does not end in a newline: %q", data)
	}
	var got oauth2.Token
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, &got, tokenCmp); diff != "" {
		t.Errorf("json.Unmarshal of the file (-want +got):\n%s", diff)
	}
}

func TestFileStoreKeepsExtras(t *testing.T) {
	store := NewFileStore(tempTokenPath(t))
	mustSave(t, store, sampleToken().WithExtra(map[string]any{
		"id_token": "id-1",
		"scope":    "openid email",
		"other":    "not kept",
	}))
	got := mustLoad(t, store)
	for key, want := range map[string]any{"id_token": "id-1", "scope": "openid email", "other": nil} {
		if v := got.Extra(key); v != want {
			t.Errorf("Extra(%q) = %#v, want %#v", key, v, want)
		}
	}
	if diff := cmp.Diff(sampleToken(), got, tokenCmp); diff != "" {
		t.Errorf("Load after Save (-want +got):\n%s", diff)
	}
}

func TestMarshalTokenRoundTrip(t *testing.T) {
	tok := (&oauth2.Token{
		AccessToken:  "at",
		TokenType:    "Bearer",
		RefreshToken: "rt",
		Expiry:       time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		ExpiresIn:    3600,
	}).WithExtra(map[string]any{"id_token": "idt", "scope": "a b", "other": "dropped"})
	data, err := MarshalToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalToken(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tok, got, cmpopts.IgnoreUnexported(oauth2.Token{})); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, key := range []string{"id_token", "scope"} {
		if got.Extra(key) != tok.Extra(key) {
			t.Errorf("Extra(%q) = %v, want %v", key, got.Extra(key), tok.Extra(key))
		}
	}
	if got.Extra("other") != nil {
		t.Errorf("Extra(other) = %v, want it dropped", got.Extra("other"))
	}
	if _, err := MarshalToken(&oauth2.Token{TokenType: "Bearer"}); err == nil {
		t.Error("MarshalToken of a token without credentials: no error")
	}
}
