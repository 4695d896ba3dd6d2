package otelsource

import (
	"errors"
	"sync"
	"weak"

	"github.com/oauthkit/tokensource"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry holds the instruments and the tracer that the Hooks of any
// number of Sources share. It is safe for concurrent use.
type Telemetry struct {
	tracer trace.Tracer

	refreshes     metric.Int64Counter
	duration      metric.Float64Histogram
	lockWait      metric.Float64Histogram
	saves         metric.Int64Counter
	logins        metric.Int64Counter
	takeovers     metric.Int64Counter
	invalidations metric.Int64Counter
	rejections    metric.Int64Counter

	mu       sync.Mutex
	observed map[attribute.Distinct]observed                  // for the gauge, by attribute set
	setOf    map[weak.Pointer[tokensource.Source]]observation // each Source observed
}

// Bucket boundaries, in seconds, of the duration histograms: from a token
// endpoint on the same network to DefaultRefreshTimeout.
var durationBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// New creates the instruments, with the providers of the options or the
// global ones, under the instrumentation scope ScopeName at Version. An error means the MeterProvider refused an instrument; the
// Telemetry returned then still works, without it.
func New(opts ...Option) (*Telemetry, error) {
	c := newConfig(opts)
	m := c.mp.Meter(ScopeName, metric.WithInstrumentationVersion(Version()))
	t := &Telemetry{
		tracer:   c.tp.Tracer(ScopeName, trace.WithInstrumentationVersion(Version())),
		observed: map[attribute.Distinct]observed{},
		setOf:    map[weak.Pointer[tokensource.Source]]observation{},
	}
	var errs [9]error
	t.refreshes, errs[0] = m.Int64Counter("tokensource.refreshes", metric.WithUnit("{refresh}"),
		metric.WithDescription("Refreshes of a token, by reason and outcome (an adoption is an outcome)."))
	t.duration, errs[1] = m.Float64Histogram("tokensource.refresh.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of refreshes, by reason and outcome."), metric.WithExplicitBucketBoundaries(durationBounds...))
	t.lockWait, errs[2] = m.Float64Histogram("tokensource.lock.wait_time", metric.WithUnit("s"),
		metric.WithDescription("Time a refresh waited for the store's lock."), metric.WithExplicitBucketBoundaries(durationBounds...))
	t.saves, errs[3] = m.Int64Counter("tokensource.saves", metric.WithUnit("{save}"),
		metric.WithDescription("Attempts to save a token to the store, by outcome."))
	t.invalidations, errs[4] = m.Int64Counter("tokensource.invalidations", metric.WithUnit("{invalidation}"),
		metric.WithDescription("Tokens dropped because a server rejected them."))
	t.rejections, errs[5] = m.Int64Counter("tokensource.rejections", metric.WithUnit("{response}"),
		metric.WithDescription("Responses that rejected a request's token, by what the Transport made of them."))
	t.logins, errs[7] = m.Int64Counter("tokensource.logins", metric.WithUnit("{login}"),
		metric.WithDescription("Calls of Options.Login, by outcome."))
	t.takeovers, errs[8] = m.Int64Counter("tokensource.takeovers", metric.WithUnit("{refresh}"),
		metric.WithDescription("Refreshes that sent a refresh token another Source had recorded its intent on and never resolved."))
	_, errs[6] = m.Float64ObservableGauge("tokensource.token.remaining_lifetime", metric.WithUnit("s"),
		metric.WithDescription("Time until the Expiry of the token a Source serves."), metric.WithFloat64Callback(t.observe))
	// A provider may return nil with its error.
	t.refreshes = orNoop(t.refreshes, metric.Int64Counter(noop.Int64Counter{}))
	t.duration = orNoop(t.duration, metric.Float64Histogram(noop.Float64Histogram{}))
	t.lockWait = orNoop(t.lockWait, metric.Float64Histogram(noop.Float64Histogram{}))
	t.saves = orNoop(t.saves, metric.Int64Counter(noop.Int64Counter{}))
	t.logins = orNoop(t.logins, metric.Int64Counter(noop.Int64Counter{}))
	t.takeovers = orNoop(t.takeovers, metric.Int64Counter(noop.Int64Counter{}))
	t.invalidations = orNoop(t.invalidations, metric.Int64Counter(noop.Int64Counter{}))
	t.rejections = orNoop(t.rejections, metric.Int64Counter(noop.Int64Counter{}))
	return t, errors.Join(errs[:]...)
}

// orNoop returns inst, or noop if inst is nil.
func orNoop[T comparable](inst, noop T) T {
	var none T
	if inst == none {
		return noop
	}
	return inst
}
