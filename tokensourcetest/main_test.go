package tokensourcetest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if any test leaves a goroutine behind, which is how
// Close is checked to release every request it served.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
