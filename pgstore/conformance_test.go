package pgstore

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// TestConformance runs the conformance suite of every store, in one
// table: each Backend on a key of its own, the Leasers of a subtest on the
// key named after it.
func TestConformance(t *testing.T) {
	pool := testPool(t)
	opts := newTable(t, pool)
	t.Run("Backend", func(t *testing.T) {
		var n atomic.Int64 // a fresh key for every Backend, however many a subtest makes
		storetest.TestBackend(t, func(t *testing.T) tokensource.Backend {
			return New(pool, fmt.Sprintf("%s#%d", t.Name(), n.Add(1)), opts)
		})
	})
	t.Run("Leaser", func(t *testing.T) {
		storetest.TestLeaser(t, func(t *testing.T) tokensource.Leaser { return New(pool, t.Name(), opts) })
	})
}
