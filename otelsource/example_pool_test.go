package otelsource_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/otelsource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// A backend serving many accounts keeps their Sources in a Pool, all
// reporting to one Telemetry, each with its account's attribute. Here, the
// accounts' tokens expire and are refreshed, the token endpoint fails once,
// a server revokes a token, and another process refreshes a token first;
// the metrics add up to each Source's Stats.
func Example_pool() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tel, err := otelsource.New(otelsource.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}

	clock := tokensourcetest.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now})
	defer srv.Close()
	dir, err := os.MkdirTemp("", "otelsource-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	conf := srv.Config()
	path := func(account string) string { return filepath.Join(dir, account+".json") }
	for _, account := range []string{"acme", "globex"} {
		if err := tokensource.NewFileStore(path(account)).Save(ctx, srv.Login()); err != nil {
			log.Fatal(err)
		}
	}
	pool := tokensource.NewPool(func(account string) *tokensource.Source {
		attr := attribute.String("account", account)
		src := tokensource.FromConfig(ctx, conf, tokensource.NewFileStore(path(account)),
			&tokensource.Options{Now: clock.Now, Hooks: tel.Hooks(attr)})
		tel.Observe(src, attr)
		return src
	}, nil)
	call := func(account string) {
		resp, err := tokensource.NewClient(ctx, pool.Get(account)).Get(srv.ResourceURL())
		if err != nil {
			fmt.Println(account, "failed")
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fmt.Println(account, resp.Status)
		}
	}

	call("acme") // each loads its stored token
	call("globex")
	clock.Advance(2 * time.Hour) // both expire
	srv.FailNext(1, tokensourcetest.FaultUnavailable)
	call("acme") // fails, and backs off
	call("acme") // during the backoff: no refresh
	call("globex")
	clock.Advance(time.Minute)
	call("acme")
	tok, _ := pool.Get("globex").Token()
	srv.RevokeAccessToken(tok.AccessToken)
	call("globex") // a 401, recovered
	clock.Advance(2 * time.Hour)
	other := tokensource.FromConfig(ctx, conf, tokensource.NewFileStore(path("acme")), &tokensource.Options{Now: clock.Now})
	other.Token() // another process refreshes acme's token first
	call("acme")  // and acme adopts it
	call("globex")
	clock.Advance(10 * time.Minute)

	printMetrics(reader)
	for _, account := range []string{"acme", "globex"} {
		fmt.Printf("%s: %+v\n", account, pool.Get(account).Stats())
	}
	// Output:
	// acme failed
	// acme failed
	// tokensource.refreshes [{refresh}] account=acme tokensource.refresh.outcome=adopted tokensource.refresh.reason=expired: 1
	// tokensource.refreshes [{refresh}] account=acme tokensource.refresh.outcome=failed tokensource.refresh.reason=expired: 1
	// tokensource.refreshes [{refresh}] account=acme tokensource.refresh.outcome=loaded tokensource.refresh.reason=missing: 1
	// tokensource.refreshes [{refresh}] account=acme tokensource.refresh.outcome=refreshed tokensource.refresh.reason=expired: 1
	// tokensource.refreshes [{refresh}] account=globex tokensource.refresh.outcome=loaded tokensource.refresh.reason=missing: 1
	// tokensource.refreshes [{refresh}] account=globex tokensource.refresh.outcome=refreshed tokensource.refresh.reason=expired: 2
	// tokensource.refreshes [{refresh}] account=globex tokensource.refresh.outcome=refreshed tokensource.refresh.reason=rejected: 1
	// tokensource.refresh.duration [s] account=acme tokensource.refresh.outcome=adopted tokensource.refresh.reason=expired: 1 values
	// tokensource.refresh.duration [s] account=acme tokensource.refresh.outcome=failed tokensource.refresh.reason=expired: 1 values
	// tokensource.refresh.duration [s] account=acme tokensource.refresh.outcome=loaded tokensource.refresh.reason=missing: 1 values
	// tokensource.refresh.duration [s] account=acme tokensource.refresh.outcome=refreshed tokensource.refresh.reason=expired: 1 values
	// tokensource.refresh.duration [s] account=globex tokensource.refresh.outcome=loaded tokensource.refresh.reason=missing: 1 values
	// tokensource.refresh.duration [s] account=globex tokensource.refresh.outcome=refreshed tokensource.refresh.reason=expired: 2 values
	// tokensource.refresh.duration [s] account=globex tokensource.refresh.outcome=refreshed tokensource.refresh.reason=rejected: 1 values
	// tokensource.lock.wait_time [s] account=acme: 2 values
	// tokensource.lock.wait_time [s] account=globex: 3 values
	// tokensource.saves [{save}] account=acme tokensource.save.outcome=saved: 1
	// tokensource.saves [{save}] account=globex tokensource.save.outcome=saved: 3
	// tokensource.invalidations [{invalidation}] account=globex tokensource.invalidation.never_worked=false: 1
	// tokensource.rejections [{response}] account=globex tokensource.rejection.outcome=recovered: 1
	// tokensource.token.remaining_lifetime [s] account=acme: 3000
	// tokensource.token.remaining_lifetime [s] account=globex: 3000
	// acme: {Refreshes:1 RefreshErrors:1 Adopted:1 Saves:1 SaveErrors:0 Invalidations:0 TakeOvers:0 Resaves:0 Logins:0 LoginErrors:0}
	// globex: {Refreshes:3 RefreshErrors:0 Adopted:0 Saves:3 SaveErrors:0 Invalidations:1 TakeOvers:0 Resaves:0 Logins:0 LoginErrors:0}
}
