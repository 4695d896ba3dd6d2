package tokensource

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind: a refresh
// that outlives its RefreshTimeout, a waiter that never returns, or a
// connection a test forgot to close.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
