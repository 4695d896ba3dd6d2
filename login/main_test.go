package login

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: a redirect
// server that was never closed, or a poll that outlived its login.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
