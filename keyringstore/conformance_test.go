package keyringstore

import (
	"testing"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// TestConformance runs the suite every store passes, on the tests'
// gnome-keyring: with the default chunk size, at which every record of
// the suite is in its index, and with one of 64 bytes, at which every
// record is in chunks (TestChunkedLayout checks that it is).
func TestConformance(t *testing.T) {
	for name, size := range map[string]int{"Default": 0, "Chunked": 64} {
		t.Run(name, func(t *testing.T) {
			needKeyring(t)
			storetest.TestBackend(t, func(t *testing.T) tokensource.Backend {
				return newStore(t, &Options{ChunkSize: size})
			})
		})
	}
}
