package redisstore

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves a goroutine behind. Without a
// Redis server, it skips the examples, which need one: the tests say
// themselves that they skip, or fail under TOKENSOURCE_REQUIRE_SERVERS=1.
// It silences go-redis's log of failed dials, which the tests that stop the
// server cause on purpose; errors reach the tests as errors.
func TestMain(m *testing.M) {
	flag.Parse()
	redis.SetLogger(quiet{})
	if os.Getenv(addrEnv) == "" && os.Getenv(requireEnv) != "1" {
		skip := "^Example"
		if s := flag.Lookup("test.skip").Value.String(); s != "" {
			skip = s + "|" + skip
		}
		flag.Set("test.skip", skip)
		fmt.Fprintln(os.Stderr, noServer)
	}
	goleak.VerifyTestMain(m)
}

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}
