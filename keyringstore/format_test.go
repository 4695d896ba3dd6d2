package keyringstore

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/oauthkit/tokensource"
)

// TestLayout: a record is in its index when the index is at most
// chunkSize bytes long, or the record is empty, and otherwise in chunks of at most chunkSize
// bytes, which join back into it, and whose index is read back as it
// was written.
func TestLayout(t *testing.T) {
	for _, size := range []int{4, 5, 7, 64, 100, 2000} {
		for _, n := range []int{0, 1, 2, 3, 47, 48, 49, 1000, 5000} {
			data := bytes.Repeat([]byte("abcdefg\x00\xff"), n/9+1)[:n]
			idx, chunks := layout(data, size)
			if len(chunks) > maxChunks {
				continue // Put refuses it: TestRecordTooLarge
			}
			back, ours, err := parseIndex(idx.encode())
			if err != nil || !ours {
				t.Fatalf("size %d, %d bytes: the index does not read back: %v", size, n, err)
			}
			if chunks == nil {
				if (len(idx.encode()) > size && n > 0) || !bytes.Equal(back.Record, data) {
					t.Fatalf("size %d, %d bytes: an index of %d bytes holding another record", size, n, len(idx.encode()))
				}
				continue
			}
			for i, c := range chunks {
				if len(c) > size {
					t.Fatalf("size %d, %d bytes: chunk %d is %d bytes long", size, n, i, len(c))
				}
			}
			got, err := back.join(chunks)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("size %d, %d bytes: the chunks join into another record (%v)", size, n, err)
			}
			if _, err := back.join(chunks[1:]); err == nil {
				t.Fatalf("size %d, %d bytes: the chunks but the first join without an error", size, n)
			}
		}
	}
}

// TestParseIndex: a value that does not start as an index is a record
// stored as it is; one that does but cannot be followed is damaged, and
// corrupt, and its error quotes nothing of it.
func TestParseIndex(t *testing.T) {
	for _, v := range []string{"", `{"access_token":"secret-at"}`, ` {"keyringstore":1}`, "secret-plain"} {
		if _, ours, err := parseIndex(v); ours || err != nil {
			t.Errorf("parseIndex(%q) = %v, %v; want a record stored as it is", v, ours, err)
		}
	}
	for _, v := range []string{
		`{"keyringstore":1,"id":"a","chunks":0,"size":1,"sha256":"secret-"}`,
		`{"keyringstore":1,"id":"a","chunks":2000,"size":1,"sha256":"` + strings.Repeat("0", 64) + `"}`,
		`{"keyringstore":1,"id":"a","chunks":2,"size":1,"sha256":"secret-"}`,
		`{"keyringstore":1,"id":"a","record":"c2VjcmV0LQ==","chunks":1,"size":1,"sha256":"` + strings.Repeat("0", 64) + `"}`,
		`{"keyringstore":0}`,
		`{"keyringstore":3,"secret-":1}`,
		`{"keyringstore":"secret-"}`,
	} {
		_, ours, err := parseIndex(v)
		var d *damaged
		if !ours || !errors.As(err, &d) || !errors.Is(err, tokensource.ErrCorrupt) || d.index != v {
			t.Errorf("parseIndex(%q) = %v, %v; want a damaged index", v, ours, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret-") {
			t.Errorf("parseIndex(%q): %v quotes the value", v, err)
		}
	}
}

// TestRecordTooLarge: a record that needs more than 1,024 chunks is not
// written, and the error says what to change.
func TestRecordTooLarge(t *testing.T) {
	s := newStore(t, &Options{ChunkSize: 4})
	err := s.Put(testCtx(t), nil, bytes.Repeat([]byte("x"), 3*maxChunks+1))
	if err == nil || !strings.Contains(err.Error(), "Options.ChunkSize") {
		t.Fatalf("Put of a record of %d chunks: %v; want an error that names Options.ChunkSize", maxChunks+1, err)
	}
	wantStoreError(t, err, s)
	if _, err := s.Get(testCtx(t)); !errors.Is(err, tokensource.ErrNotFound) {
		t.Fatalf("Get after a Put of a record too large: %v; want ErrNotFound", err)
	}
}
