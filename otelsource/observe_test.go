package otelsource

import (
	"context"
	"runtime"
	"testing"

	"github.com/oauthkit/tokensource"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// heapAlloc returns the bytes of live heap objects, after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC() // a cleanup queued by the first may free more
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Observing the same Source 100,000 times, with its attributes and with
// others in turn, keeps one entry and one cleanup for it: the heap does
// not grow with the calls.
func TestObserveIsIdempotent(t *testing.T) {
	tel, err := New()
	if err != nil {
		t.Fatal(err)
	}
	src := observedSource(t, tel, "acme")
	acme, other := attribute.String("account", "acme"), attribute.String("account", "acme-2")
	before := heapAlloc()
	for i := range 100_000 {
		if i%2 == 0 {
			tel.Observe(src, acme)
		} else {
			tel.Observe(src, other)
		}
	}
	after := heapAlloc()
	// The leak this guards against was 40 B a call: 4 MB here.
	if grown := int64(after) - int64(before); grown > 256<<10 {
		t.Errorf("the heap grew by %d bytes over 100,000 calls of Observe, want it flat", grown)
	}
	tel.mu.Lock()
	observed, known := len(tel.observed), len(tel.setOf)
	tel.mu.Unlock()
	if observed != 1 || known != 1 {
		t.Errorf("Telemetry holds %d gauge entries and %d Sources, want 1 and 1", observed, known)
	}
	runtime.KeepAlive(src)
}

// Forget takes a Source that is still alive out of the gauge at once;
// observing it again puts it back.
func TestForget(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	tel, err := New(WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	collect := func() map[string]float64 {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		return gauge(rm.ScopeMetrics[0].Metrics)
	}
	src := observedSource(t, tel, "acme")
	kept := observedSource(t, tel, "globex")
	if got := collect(); len(got) != 2 {
		t.Fatalf("gauge = %v, want both Sources", got)
	}
	tel.Forget(src)
	tel.Forget(src)
	tel.Forget(nil)
	if got := collect(); len(got) != 1 || got["globex"] == 0 {
		t.Errorf("gauge after Forget = %v, want globex alone", got)
	}
	tel.mu.Lock()
	known := len(tel.setOf)
	tel.mu.Unlock()
	if known != 1 {
		t.Errorf("Telemetry holds %d Sources after Forget, want 1", known)
	}
	tel.Observe(src, attribute.String("account", "acme"))
	if got := collect(); len(got) != 2 {
		t.Errorf("gauge after observing again = %v, want both Sources", got)
	}
	runtime.KeepAlive(kept)
}

// Nil providers are ignored, as otelhttp ignores them: the global ones,
// or those given before, are used.
func TestNilProvidersAreIgnored(t *testing.T) {
	if _, err := New(WithMeterProvider(nil), WithTracerProvider(nil), nil); err != nil {
		t.Fatal(err)
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	tel, err := New(WithMeterProvider(mp), WithMeterProvider(nil))
	if err != nil {
		t.Fatal(err)
	}
	tel.Hooks().Saved(context.Background(), tokensource.SavedInfo{})
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if n := sum(rm.ScopeMetrics[0].Metrics, "tokensource.saves"); n != 1 {
		t.Errorf("tokensource.saves = %d on the provider given before nil, want 1", n)
	}
}

// The meter and the tracer report the module's version.
func TestInstrumentationScope(t *testing.T) {
	if Version() == "" {
		t.Fatal("Version() is empty in a build with build information")
	}
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	defer tp.Shutdown(context.Background())
	tel, err := New(WithMeterProvider(mp), WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	h := tel.Hooks()
	ctx := h.RefreshStart(context.Background(), tokensource.RefreshStartInfo{Reason: tokensource.ReasonForced})
	h.RefreshDone(ctx, tokensource.RefreshDoneInfo{Reason: tokensource.ReasonForced, Outcome: tokensource.OutcomeRefreshed})
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if s := rm.ScopeMetrics[0].Scope; s.Name != ScopeName || s.Version != Version() {
		t.Errorf("meter scope = %+v, want %s at %q", s, ScopeName, Version())
	}
	if ended := spans.Ended(); len(ended) != 1 || ended[0].InstrumentationScope().Version != Version() {
		t.Errorf("tracer scope of %d spans: want one, at %q", len(ended), Version())
	}
}
