package pgstore

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind: a connection
// or pool left open, a lock wait that never ended.
//
// An example cannot skip. Without a server, the tests skip and say how to
// run them, and the examples are left out; when the servers are required,
// they run, and fail.
func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv(urlEnv) == "" && os.Getenv(requireEnv) != "1" {
		skip := "^Example"
		if s := flag.Lookup("test.skip").Value.String(); s != "" {
			skip = s + "|" + skip
		}
		flag.Set("test.skip", skip)
		fmt.Fprintf(os.Stderr, "pgstore: no PostgreSQL server; examples left out, tests skip: %s\n", howToRun)
	}
	goleak.VerifyTestMain(m)
}
