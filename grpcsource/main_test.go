package grpcsource_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: a stream or
// connection not closed, a retry that never returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
