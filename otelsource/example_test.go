package otelsource_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/otelsource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// A Source reports to a meter and a tracer provider: here the SDK's, with
// in-memory readers; in production, the providers the program exports with.
func Example() {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	tel, err := otelsource.New(otelsource.WithMeterProvider(mp), otelsource.WithTracerProvider(tp))
	if err != nil {
		log.Fatal(err)
	}

	clock := tokensourcetest.NewClock(time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC))
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now})
	defer srv.Close()
	ctx := context.Background()
	store := tokensource.NewMemoryStore()
	if err := store.Save(ctx, srv.Login()); err != nil {
		log.Fatal(err)
	}
	user := attribute.String("user", "alice")
	src := tokensource.FromConfig(ctx, srv.Config(), store, &tokensource.Options{Now: clock.Now, Hooks: tel.Hooks(user)})
	tel.Observe(src, user)
	client := tokensource.NewClient(ctx, src)

	// A request handler's span: the refreshes its requests start are its
	// children.
	ctx, span := tp.Tracer("app").Start(ctx, "handle request")
	get(ctx, client, srv.ResourceURL()) // loads the stored token
	clock.Advance(2 * time.Hour)
	get(ctx, client, srv.ResourceURL()) // refreshes the expired one
	tok, _ := src.Token()
	srv.RevokeAccessToken(tok.AccessToken)
	get(ctx, client, srv.ResourceURL()) // a 401: refreshes, and sends it again
	span.End()
	clock.Advance(15 * time.Minute)

	printMetrics(reader)
	for _, s := range spans.Ended() {
		child := s.Parent().SpanID() == span.SpanContext().SpanID()
		fmt.Printf("span %q, child of the handler's: %v\n", s.Name(), child)
		if len(s.Attributes()) > 0 {
			fmt.Printf("\t%s\n", attrs(s.Attributes()...))
		}
		for _, e := range s.Events() {
			fmt.Println("\t" + strings.TrimSpace("event "+e.Name+" "+attrs(e.Attributes...)))
		}
	}
	// Output:
	// tokensource.refreshes [{refresh}] tokensource.refresh.outcome=loaded tokensource.refresh.reason=missing user=alice: 1
	// tokensource.refreshes [{refresh}] tokensource.refresh.outcome=refreshed tokensource.refresh.reason=expired user=alice: 1
	// tokensource.refreshes [{refresh}] tokensource.refresh.outcome=refreshed tokensource.refresh.reason=rejected user=alice: 1
	// tokensource.refresh.duration [s] tokensource.refresh.outcome=loaded tokensource.refresh.reason=missing user=alice: 1 values
	// tokensource.refresh.duration [s] tokensource.refresh.outcome=refreshed tokensource.refresh.reason=expired user=alice: 1 values
	// tokensource.refresh.duration [s] tokensource.refresh.outcome=refreshed tokensource.refresh.reason=rejected user=alice: 1 values
	// tokensource.saves [{save}] tokensource.save.outcome=saved user=alice: 2
	// tokensource.invalidations [{invalidation}] tokensource.invalidation.never_worked=false user=alice: 1
	// tokensource.rejections [{response}] tokensource.rejection.outcome=recovered user=alice: 1
	// tokensource.token.remaining_lifetime [s] user=alice: 2700
	// span "tokensource.refresh", child of the handler's: true
	// 	tokensource.refresh.outcome=loaded tokensource.refresh.reason=missing tokensource.token.expiry=2030-01-01T13:00:00Z user=alice
	// 	event tokensource.store.loaded tokensource.store.found=true
	// span "tokensource.refresh", child of the handler's: true
	// 	tokensource.refresh.outcome=refreshed tokensource.refresh.reason=expired tokensource.token.expiry=2030-01-01T15:00:00Z user=alice
	// 	event tokensource.store.loaded tokensource.store.found=true
	// 	event tokensource.token.requested
	// 	event tokensource.token.saved tokensource.save.outcome=saved
	// span "tokensource.refresh", child of the handler's: true
	// 	tokensource.refresh.outcome=refreshed tokensource.refresh.reason=rejected tokensource.token.expiry=2030-01-01T15:00:00Z user=alice
	// 	event tokensource.store.loaded tokensource.store.found=true
	// 	event tokensource.token.requested
	// 	event tokensource.token.saved tokensource.save.outcome=saved
	// span "handle request", child of the handler's: false
	// 	event tokensource.rejection http.response.status_code=200 tokensource.rejection.outcome=recovered
}

// get sends a GET with ctx.
func get(ctx context.Context, client *http.Client, url string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
}

// printMetrics prints what reader collects now: each point's metric, unit,
// attributes and value (the number of values, for a histogram).
func printMetrics(reader *sdkmetric.ManualReader) {
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		log.Fatal(err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			var lines []string
			add := func(set attribute.Set, value string) {
				lines = append(lines, fmt.Sprintf("%s [%s] %s: %s", m.Name, m.Unit, attrs(set.ToSlice()...), value))
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					add(p.Attributes, fmt.Sprint(p.Value))
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					add(p.Attributes, fmt.Sprintf("%d values", p.Count))
				}
			case metricdata.Gauge[float64]:
				for _, p := range d.DataPoints {
					add(p.Attributes, fmt.Sprint(p.Value))
				}
			}
			slices.Sort(lines)
			fmt.Println(strings.Join(lines, "\n"))
		}
	}
}

// attrs formats kvs as key=value pairs, sorted by key.
func attrs(kvs ...attribute.KeyValue) string {
	var s []string
	for _, kv := range kvs {
		s = append(s, string(kv.Key)+"="+kv.Value.String())
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}
