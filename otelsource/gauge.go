package otelsource

import (
	"context"
	"weak"

	"github.com/oauthkit/tokensource"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Observe adds src to the gauge tokensource.token.remaining_lifetime, with
// attrs: each collection reports the remaining lifetime of the token src
// serves, by its clock (see [tokensource.Source.Remaining]), and nothing
// while it serves none, or one that never expires. Observing src again
// replaces its attributes.
//
// Telemetry holds src weakly: once the program no longer uses src (a Pool
// dropped it, say), it is collected, and leaves the gauge.
func (t *Telemetry) Observe(src *tokensource.Source, attrs ...attribute.KeyValue) {
	set := attribute.NewSet(attrs...)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.observed[weak.Make(src)] = set
}

// observe is the gauge's callback.
func (t *Telemetry) observe(_ context.Context, o metric.Float64Observer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for p, set := range t.observed {
		src := p.Value()
		if src == nil {
			delete(t.observed, p)
			continue
		}
		if left, ok := src.Remaining(); ok {
			o.Observe(left.Seconds(), metric.WithAttributeSet(set))
		}
	}
	return nil
}
