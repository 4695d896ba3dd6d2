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

// observation is what Telemetry keeps of each Source observed: the set it
// was last observed with, and the cleanup that forgets it once collected.
type observation struct {
	set     attribute.Set
	cleanup runtime.Cleanup
}

// Observe adds src to the gauge tokensource.token.remaining_lifetime, with
// attrs: each collection reports the remaining lifetime of the token src
// serves, by its clock (see [tokensource.Source.Remaining]), and nothing
// while it serves none, or one that never expires. Observing src again
// replaces its attributes, and costs no memory: call it as often as is
// convenient (on each Get from a Pool, say). Observing another Source with
// the same attributes (the new Source of a Pool's key, say) replaces src.
//
// Telemetry holds src weakly: once the program no longer uses src (a Pool
// dropped it, say), it is collected, and leaves the gauge; [Telemetry.Forget]
// takes it out at once.
func (t *Telemetry) Observe(src *tokensource.Source, attrs ...attribute.KeyValue) {
	if src == nil {
		return
	}
	set := attribute.NewSet(attrs...)
	p := weak.Make(src)
	t.mu.Lock()
	defer t.mu.Unlock()
	o, known := t.setOf[p]
	if known {
		t.dropLocked(p, o.set)
	} else {
		// One cleanup per Source, however many calls: each would hold
		// memory until the Source is collected.
		o.cleanup = runtime.AddCleanup(src, t.forget, p)
	}
	// src replaces any Source observed with set, which leaves the gauge;
	// that one stays known, with its cleanup, until it is collected.
	o.set = set
	t.observed[set.Equivalent()] = observed{src: p, set: set}
	t.setOf[p] = o
}

// Forget takes src out of the gauge now, rather than once src is
// collected; observing it again puts it back. Call it when a Source is
// dropped but may live on (a Pool evicted it, and a caller still holds
// it), so that the gauge does not report its attribute set. A Source not
// observed, or nil, is ignored.
//
// Forget concerns the gauge only: the series of the counters and
// histograms with src's attributes are kept by the MeterProvider (see the
// package documentation).
func (t *Telemetry) Forget(src *tokensource.Source) {
	if src == nil {
		return
	}
	p := weak.Make(src)
	t.mu.Lock()
	defer t.mu.Unlock()
	o, ok := t.setOf[p]
	if !ok {
		return
	}
	o.cleanup.Stop()
	delete(t.setOf, p)
	t.dropLocked(p, o.set)
}

// forget removes the Source p points to, now collected, from the gauge.
func (t *Telemetry) forget(p weak.Pointer[tokensource.Source]) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if o, ok := t.setOf[p]; ok {
		delete(t.setOf, p)
		t.dropLocked(p, o.set)
	}
}

// dropLocked removes the gauge's entry for set if it is p's.
func (t *Telemetry) dropLocked(p weak.Pointer[tokensource.Source], set attribute.Set) {
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
