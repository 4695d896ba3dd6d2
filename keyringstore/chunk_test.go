package keyringstore

import (
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/zalando/go-keyring"

	"github.com/oauthkit/tokensource"
)

// TestChunkedLayout saves a record many chunks long, and checks what the
// keyring holds: the index, naming chunks of at most ChunkSize bytes of
// base64; the record loads back. The next Save writes chunks under a new
// id and deletes the old ones; the tombstone of Delete fits in its index,
// and leaves no chunk behind.
func TestChunkedLayout(t *testing.T) {
	const size = 200
	s := newStore(t, &Options{ChunkSize: size})
	first := sampleToken("first", 3000)
	mustSave(t, s, first)
	wantToken(t, mustLoad(t, s), first)

	_, idx := rawIndex(t, s)
	if idx.ID == "" || idx.Chunks < 10 {
		t.Fatalf("a record of %d bytes in an index of %d chunks (id %q); want it in 10 or more", idx.Size, idx.Chunks, idx.ID)
	}
	for n, c := range rawChunks(t, s, idx) {
		if len(c) > size {
			t.Errorf("chunk %d is %d bytes long; want at most ChunkSize, %d", n+1, len(c), size)
		}
		if _, err := base64.StdEncoding.DecodeString(c); err != nil {
			t.Errorf("chunk %d is not base64: %v", n+1, err)
		}
	}

	second := sampleToken("second", 2500)
	mustSave(t, s, second)
	wantToken(t, mustLoad(t, s), second)
	_, next := rawIndex(t, s)
	if next.ID == idx.ID {
		t.Fatal("the second Save wrote its chunks under the id of the first")
	}
	wantGone(t, s, idx.ID, idx.Chunks)
	rawChunks(t, s, next)

	if err := s.Delete(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	if _, tomb := rawIndex(t, s); tomb.ID != "" {
		t.Errorf("the tombstone is in %d chunks; want it in its index", tomb.Chunks)
	}
	wantGone(t, s, next.ID, next.Chunks)
	if _, err := s.Load(testCtx(t)); !errors.Is(err, tokensource.ErrLoggedOut) {
		t.Fatalf("Load after Delete: %v; want ErrLoggedOut", err)
	}
}

// TestDefaultChunkSize: at the default chunk size, a token's record is in
// its index, one keyring item.
func TestDefaultChunkSize(t *testing.T) {
	s := newStore(t, nil)
	tok := sampleToken("default", 1500)
	mustSave(t, s, tok)
	if _, idx := rawIndex(t, s); idx.ID != "" {
		t.Fatalf("a token's record is in %d chunks at the default chunk size; want it in its index", idx.Chunks)
	}
	wantToken(t, mustLoad(t, s), tok)
}

// TestDamagedRecord: a chunk deleted or changed behind the Store's back,
// or an index this version cannot read, makes the record corrupt, for
// Load and Get; a Save replaces it, and deletes the chunks its index
// names. (Those of an index overwritten by another program are left: no
// index names them any more.)
func TestDamagedRecord(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, s *Store, idx index){
		"chunk missing": func(t *testing.T, s *Store, idx index) {
			if err := keyring.Delete(s.Service(), chunkUser(s.User(), idx.ID, 2)); err != nil {
				t.Fatal(err)
			}
		},
		"chunk changed": func(t *testing.T, s *Store, idx index) {
			other := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("z", 48)))
			if err := keyring.Set(s.Service(), chunkUser(s.User(), idx.ID, 1), other); err != nil {
				t.Fatal(err)
			}
		},
		"chunk not base64": func(t *testing.T, s *Store, idx index) {
			if err := keyring.Set(s.Service(), chunkUser(s.User(), idx.ID, 0), "%%%"); err != nil {
				t.Fatal(err)
			}
		},
		"index of a later layout": func(t *testing.T, s *Store, idx index) {
			if err := keyring.Set(s.Service(), s.User(), `{"keyringstore":2,"parts":["x"]}`); err != nil {
				t.Fatal(err)
			}
		},
		"index not JSON": func(t *testing.T, s *Store, idx index) {
			if err := keyring.Set(s.Service(), s.User(), `{"keyringstore":1,"id":`); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t, &Options{ChunkSize: 64})
			mustSave(t, s, sampleToken("before", 400))
			_, idx := rawIndex(t, s)
			damage(t, s, idx)

			_, err := s.Load(testCtx(t))
			if !errors.Is(err, tokensource.ErrCorrupt) {
				t.Fatalf("Load of a damaged record: %v; want ErrCorrupt", err)
			}
			wantStoreError(t, err, s)
			if _, err := s.Get(testCtx(t)); !errors.Is(err, tokensource.ErrCorrupt) {
				t.Fatalf("Get of a damaged record: %v; want ErrCorrupt", err)
			}

			after := sampleToken("after", 400)
			mustSave(t, s, after)
			wantToken(t, mustLoad(t, s), after)
			if _, next := rawIndex(t, s); next.ID == idx.ID {
				t.Fatal("the Save kept the damaged record's chunks")
			}
			if strings.HasPrefix(name, "chunk") {
				wantGone(t, s, idx.ID, idx.Chunks)
			}
		})
	}
}

// TestDeleteRepairsDamagedRecord: Delete, like Save, replaces a damaged
// record, with a tombstone.
func TestDeleteRepairsDamagedRecord(t *testing.T) {
	s := newStore(t, &Options{ChunkSize: 64})
	mustSave(t, s, sampleToken("before", 400))
	_, idx := rawIndex(t, s)
	if err := keyring.Delete(s.Service(), chunkUser(s.User(), idx.ID, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(testCtx(t)); err != nil {
		t.Fatalf("Delete of a damaged record: %v", err)
	}
	if _, err := s.Load(testCtx(t)); !errors.Is(err, tokensource.ErrLoggedOut) {
		t.Fatalf("Load after Delete: %v; want ErrLoggedOut", err)
	}
	wantGone(t, s, idx.ID, idx.Chunks)
}

// TestForeignValue: a token that a program stored in the keyring item
// itself, as the JSON of an oauth2.Token, loads, as a record of
// generation 0; the next Save replaces it with an index.
func TestForeignValue(t *testing.T) {
	s := newStore(t, nil)
	want := sampleToken("foreign", 100)
	data, err := tokensource.MarshalToken(want)
	if err != nil {
		t.Fatal(err)
	}
	if err := keyring.Set(s.Service(), s.User(), string(data)); err != nil {
		t.Fatal(err)
	}
	wantToken(t, mustLoad(t, s), want)
	next := sampleToken("next", 100)
	mustSave(t, s, next)
	rawIndex(t, s)
	wantToken(t, mustLoad(t, s), next)
}

// TestReadFollowsReplacedIndex: a write that replaces the record while a
// read is between the index and its chunks, and deletes the chunks the
// read wanted, makes the read start again on the new index; it returns
// the new record, not an error.
func TestReadFollowsReplacedIndex(t *testing.T) {
	s := newStore(t, &Options{ChunkSize: 64})
	first, second := sampleToken("first", 400), sampleToken("second", 400)
	mustSave(t, s, first)
	writer := New(s.Service(), s.User(), &Options{ChunkSize: 64, LockPath: s.LockPath()})

	f := &faulty{provider: s.kr}
	s.kr = f
	var once sync.Once
	var saveErr error
	f.onGet = func(user string) {
		if user != s.User() {
			once.Do(func() { saveErr = writer.Save(testCtx(t), second) })
		}
	}
	got := mustLoad(t, s)
	if saveErr != nil {
		t.Fatal(saveErr)
	}
	wantToken(t, got, second)
}
