package keyringstore

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
)

// The layout of a record in the keyring (see the package documentation):
// the item of the Store's user holds an index, a JSON object whose first
// member is "keyringstore", the version of the layout. A small record is
// in the index itself, in base64 ("record"); a larger one is in chunks,
// items named by the user, the index's "id" and their number, each
// holding the base64 of a piece of the record, and the index says how
// many there are, how long the record is and its SHA-256.
const (
	layoutVersion = 1
	indexPrefix   = `{"keyringstore":`
)

// index is the value of the Store's item.
type index struct {
	Version int    `json:"keyringstore"`
	Record  []byte `json:"record,omitempty"` // a record small enough, itself; nil when ID is set
	ID      string `json:"id,omitempty"`     // names the chunks; "" when the record is in the index
	Chunks  int    `json:"chunks,omitempty"`
	Size    int    `json:"size,omitempty"`   // the record's length in bytes
	SHA256  string `json:"sha256,omitempty"` // the record's SHA-256, in hex
}

// maxChunks bounds the chunks of one record, written or read: at the
// default chunk size, records of megabytes; a token's is a few kilobytes.
// A damaged index that claims more is not followed.
const maxChunks = 1024

// minChunkSize is the smallest chunk size: one quantum of base64, three
// bytes of the record.
const minChunkSize = 4

// defaultChunkSize returns the longest value an item holds when
// Options.ChunkSize is 0, for this GOOS. The Credential Manager keeps at
// most 2,560 bytes; go-keyring sends the Keychain's tool a command of at
// most 4,096 bytes, holding the value in base64 again, with the service
// and the user. The Secret Service has no limit, but a keyring is no
// place for large values.
func defaultChunkSize() int {
	switch runtime.GOOS {
	case "windows", "darwin":
		return 2000
	}
	return 16 << 10
}

// chunkUser returns the user of the item that holds chunk n of the record
// whose index has id.
func chunkUser(user, id string, n int) string {
	return fmt.Sprintf("%s.%s.%d", user, id, n)
}

// newID returns a random chunk id: 16 hex digits.
func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// layout returns the index of data and its chunks, each at most
// chunkSize bytes long, as stored: none when data fits in the index
// itself, or is empty.
func layout(data []byte, chunkSize int) (idx index, chunks []string) {
	idx = index{Version: layoutVersion, Record: data}
	if inline, _ := json.Marshal(idx); len(inline) <= chunkSize || len(data) == 0 {
		return idx, nil
	}
	per := chunkSize / 4 * 3 // bytes of data whose base64 fits in chunkSize
	for off := 0; off < len(data); off += per {
		chunks = append(chunks, base64.StdEncoding.EncodeToString(data[off:min(off+per, len(data))]))
	}
	sum := sha256.Sum256(data)
	return index{Version: layoutVersion, ID: newID(), Chunks: len(chunks), Size: len(data), SHA256: hex.EncodeToString(sum[:])}, chunks
}

// encode returns the index as stored.
func (idx index) encode() string {
	v, _ := json.Marshal(idx) // nothing in an index fails to marshal
	return string(v)
}

// parseIndex reads the value of the Store's item: ours reports whether it
// is an index; a value that is not is a record stored as it is, by
// another program. An index this version cannot follow is damaged.
func parseIndex(v string) (idx index, ours bool, err error) {
	if !strings.HasPrefix(v, indexPrefix) {
		return index{}, false, nil
	}
	broken := func(why string) (index, bool, error) { return index{}, true, &damaged{index: v, why: why} }
	if json.Unmarshal([]byte(v), &idx) != nil {
		return broken("its index is not valid JSON")
	}
	switch {
	case idx.Version > layoutVersion:
		return broken(fmt.Sprintf("its index is of layout %d, newer than this package reads (%d)", idx.Version, layoutVersion))
	case idx.Version < 1:
		return broken("its index has no layout version")
	case idx.ID == "":
		if idx.Record == nil {
			idx.Record = []byte{} // an empty record, which omitempty left out
		}
		return idx, true, nil
	case idx.Record != nil:
		return broken("its index holds a record and names chunks")
	case idx.Chunks < 1 || idx.Chunks > maxChunks:
		return broken(fmt.Sprintf("its index names %d chunks, not 1 to %d", idx.Chunks, maxChunks))
	case idx.Size < 0 || len(idx.SHA256) != 2*sha256.Size:
		return broken("its index has no valid size or checksum")
	}
	return idx, true, nil
}

// join returns the record of a chunked index, from the values of its
// chunks, read in order, or the reason it is damaged.
func (idx index) join(chunks []string) ([]byte, error) {
	data := make([]byte, 0, min(idx.Size, 1<<20)) // a damaged index may claim any size
	for n, c := range chunks {
		piece, err := base64.StdEncoding.DecodeString(c)
		if err != nil {
			return nil, fmt.Errorf("chunk %d of %d is not base64", n+1, idx.Chunks)
		}
		data = append(data, piece...)
	}
	sum := sha256.Sum256(data)
	if len(data) != idx.Size || hex.EncodeToString(sum[:]) != idx.SHA256 {
		return nil, fmt.Errorf("its %d chunks do not match the checksum of its index", idx.Chunks)
	}
	return data, nil
}
