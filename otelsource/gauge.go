package otelsource

import (
	"context"
	"runtime"
	"weak"

	"github.com/oauthkit/tokensource"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// observed is a Source in the gauge, with its attributes.
type observed struct {
	src weak.Pointer[tokensource.Source]
	set attribute.Set
}

// Observe adds src to the gauge tokensource.token.remaining_lifetime, with
// attrs: each collection reports the remaining lifetime of the token src
// serves, by its clock (see [tokensource.Source.Remaining]), and nothing
// while it serves none, or one that never expires. Observing src again
// replaces its attributes; observing another Source with the same
// attributes (the new Source of a Pool's key, say) replaces src.
//
// Telemetry holds src weakly: once the program no longer uses src (a Pool
// dropped it, say), it is collected, and leaves the gauge.
func (t *Telemetry) Observe(src *tokensource.Source, attrs ...attribute.KeyValue) {
	set := attribute.NewSet(attrs...)
	p := weak.Make(src)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.forgetLocked(p)
	if old, ok := t.observed[set.Equivalent()]; ok {
		delete(t.setOf, old.src)
	}
	t.observed[set.Equivalent()] = observed{src: p, set: set}
	t.setOf[p] = set
	runtime.AddCleanup(src, t.forget, p)
}

// forget removes the Source p points to from the gauge.
func (t *Telemetry) forget(p weak.Pointer[tokensource.Source]) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.forgetLocked(p)
}

func (t *Telemetry) forgetLocked(p weak.Pointer[tokensource.Source]) {
	set, ok := t.setOf[p]
	if !ok {
		return
	}
	delete(t.setOf, p)
	if t.observed[set.Equivalent()].src == p {
		delete(t.observed, set.Equivalent())
	}
}

// observe is the gauge's callback.
func (t *Telemetry) observe(_ context.Context, o metric.Float64Observer) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, e := range t.observed {
		src := e.src.Value()
		if src == nil {
			continue // collected: its cleanup forgets it
		}
		if left, ok := src.Remaining(); ok {
			o.Observe(left.Seconds(), metric.WithAttributeSet(e.set))
		}
	}
	return nil
}
