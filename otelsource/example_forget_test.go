package otelsource_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/otelsource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// A Pool evicts an account's Source, which a caller may still hold: Forget
// takes the account out of the gauge at once. Observe may be called on
// every Get: it keeps one entry per Source.
func ExampleTelemetry_Forget() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	tel, err := otelsource.New(otelsource.WithMeterProvider(mp))
	if err != nil {
		log.Fatal(err)
	}
	clock := tokensourcetest.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now})
	defer srv.Close()
	ctx := context.Background()
	sources := map[string]*tokensource.Source{}
	for _, account := range []string{"acme", "globex"} {
		store := tokensource.NewMemoryStore()
		if err := store.Save(ctx, srv.Login()); err != nil {
			log.Fatal(err)
		}
		attr := attribute.String("account", account)
		src := tokensource.FromConfig(ctx, srv.Config(), store, &tokensource.Options{Now: clock.Now, Hooks: tel.Hooks(attr)})
		if _, err := src.TokenContext(ctx); err != nil {
			log.Fatal(err)
		}
		for range 3 { // once per request, say
			tel.Observe(src, attr)
		}
		sources[account] = src
	}
	gauged := func() {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(ctx, &rm); err != nil {
			log.Fatal(err)
		}
		for _, m := range rm.ScopeMetrics[0].Metrics {
			if g, ok := m.Data.(metricdata.Gauge[float64]); ok {
				fmt.Println(m.Name, "points:", len(g.DataPoints))
			}
		}
	}
	gauged()
	tel.Forget(sources["globex"]) // evicted
	gauged()
	// Output:
	// tokensource.token.remaining_lifetime points: 2
	// tokensource.token.remaining_lifetime points: 1
}
