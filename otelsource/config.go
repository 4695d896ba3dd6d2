package otelsource

import (
	"runtime/debug"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the meter and the tracer.
const ScopeName = "github.com/oauthkit/tokensource/otelsource"

// An Option configures New. A nil Option is ignored.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (o optionFunc) apply(c *config) { o(c) }

// config is what the options of New set.
type config struct {
	mp metric.MeterProvider
	tp trace.TracerProvider
}

// newConfig applies opts over the global providers.
func newConfig(opts []Option) config {
	c := config{mp: otel.GetMeterProvider(), tp: otel.GetTracerProvider()}
	for _, o := range opts {
		if o != nil {
			o.apply(&c)
		}
	}
	return c
}

// WithMeterProvider sets the MeterProvider; without it, or with a nil one,
// New uses the global one (otel.GetMeterProvider).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return optionFunc(func(c *config) {
		if mp != nil {
			c.mp = mp
		}
	})
}

// WithTracerProvider sets the TracerProvider; without it, or with a nil
// one, New uses the global one (otel.GetTracerProvider).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	})
}

// Version returns the version of this module, which the meter and the
// tracer report as their instrumentation scope's: the version the program
// was built with ("v1.2.3"), "(devel)" in a build of this module itself,
// and "" when the program carries no build information.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	if info.Main.Path == modulePath {
		return info.Main.Version
	}
	for _, m := range info.Deps {
		if m.Path == modulePath {
			if m.Replace != nil && m.Replace.Version != "" {
				return m.Replace.Version
			}
			return m.Version
		}
	}
	return ""
}

// modulePath is the path of this module, which ScopeName names.
const modulePath = ScopeName
