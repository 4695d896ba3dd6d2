package otelsource

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// A rejection counts the same whatever client reports it: the Transport's
// 401, recovered, and what grpcsource reports through Source.Rejected for
// a call recovered after Unauthenticated, and for one rejected again.
func TestRejectionsCountAlikeForEveryClient(t *testing.T) {
	r := newRig(t)
	r.wantGet("first use", http.StatusOK)
	r.srv.RevokeAccessToken(r.current().AccessToken)
	r.wantGet("revoked: recovered over HTTP", http.StatusOK)

	ctx, span := r.tracer.Start(context.Background(), "a gRPC call")
	r.src.Rejected(ctx, tokensource.UnauthorizedInfo{Retried: true, Outcome: tokensource.RejectionRecovered})
	r.src.Rejected(ctx, tokensource.UnauthorizedInfo{Retried: true, Outcome: tokensource.RejectionRejected})
	span.End()

	ms := r.collect()
	for outcome, want := range map[string]int64{"recovered": 2, "rejected": 1, "error": 0, "returned": 0} {
		if n := sum(ms, "tokensource.rejections", rejectionKey.String(outcome), account); n != want {
			t.Errorf("tokensource.rejections{outcome=%s} = %d, want %d", outcome, n, want)
		}
	}
	events := 0
	for _, s := range r.spans.Ended() {
		if s.Name() == "a gRPC call" {
			for _, e := range s.Events() {
				if e.Name == "tokensource.rejection" {
					events++
				}
			}
		}
	}
	if events != 2 {
		t.Errorf("the gRPC call's span has %d rejection events, want 2", events)
	}
}

// The invalidations counter is recorded with the caller's context: its
// point carries an exemplar of the caller's trace.
func TestInvalidationsHaveTheCallersTrace(t *testing.T) {
	r := newRig(t)
	tok := r.current()
	ctx, span := r.tracer.Start(context.Background(), "a request rejected")
	r.src.InvalidateContext(ctx, tok)
	span.End()

	var traces []string
	for _, m := range r.collect() {
		if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "tokensource.invalidations" {
			for _, p := range d.DataPoints {
				for _, e := range p.Exemplars {
					traces = append(traces, string(e.TraceID))
				}
			}
		}
	}
	want := span.SpanContext().TraceID()
	if len(traces) != 1 || traces[0] != string(want[:]) {
		t.Errorf("exemplars of tokensource.invalidations carry traces %x, want one, %s", traces, want)
	}
}

// Callers during a backoff get its error at once: a storm of them makes no
// refresh span and no metric point, and the refresh after the backoff one.
func TestBackoffMakesNoRefreshSpan(t *testing.T) {
	r := newRig(t)
	r.wantGet("first use", http.StatusOK)
	r.srv.FailNext(1, tokensourcetest.FaultServerError)
	r.clock.Advance(2 * time.Hour)
	r.wantGet("endpoint down", 0)
	spans, points := len(r.refreshSpans()), sum(r.collect(), "tokensource.refreshes")

	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			var be *tokensource.BackoffError
			if _, err := r.src.TokenContext(context.Background()); !errors.As(err, &be) {
				t.Errorf("during the backoff: %v, want a BackoffError", err)
			}
		})
	}
	wg.Wait()
	if err := r.src.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, m := len(r.refreshSpans())-spans, sum(r.collect(), "tokensource.refreshes")-points; n != 0 || m != 0 {
		t.Errorf("50 callers during the backoff made %d refresh spans and %d refreshes counted, want none", n, m)
	}
	r.clock.Advance(time.Minute)
	r.wantGet("after the backoff", http.StatusOK)
	if n := len(r.refreshSpans()) - spans; n != 1 {
		t.Errorf("%d refresh spans after the backoff, want 1", n)
	}
}
