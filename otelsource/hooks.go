package otelsource

import (
	"context"
	"net/http"
	"slices"
	"time"

	"github.com/oauthkit/tokensource"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
)

// The attributes this package sets, besides the caller's.
const (
	reasonKey         = attribute.Key("tokensource.refresh.reason")
	outcomeKey        = attribute.Key("tokensource.refresh.outcome")
	saveOutcomeKey    = attribute.Key("tokensource.save.outcome")
	loginOutcomeKey   = attribute.Key("tokensource.login.outcome")
	loginDurationKey  = attribute.Key("tokensource.login.duration")
	waitedKey         = attribute.Key("tokensource.takeover.waited")
	neverWorkedKey    = attribute.Key("tokensource.invalidation.never_worked")
	rejectionKey      = attribute.Key("tokensource.rejection.outcome")
	foundKey          = attribute.Key("tokensource.store.found")
	waitKey           = attribute.Key("tokensource.lock.wait_time")
	expiryKey         = attribute.Key("tokensource.token.expiry")
	errorMessageKey   = attribute.Key("error.message")
	responseStatusKey = attribute.Key("http.response.status_code")
)

// Hooks returns the hooks that report a Source's refreshes, saves, logins,
// take-overs, invalidations and rejections to t, each metric with attrs. Sources may
// share them, and so their metrics, when they share attrs.
func (t *Telemetry) Hooks(attrs ...attribute.KeyValue) *tokensource.Hooks {
	h := &hooks{t: t, attrs: slices.Clip(slices.Clone(attrs))}
	return &tokensource.Hooks{
		RefreshStart: h.refreshStart,
		StoreLoaded:  h.storeLoaded,
		LockAcquired: h.lockAcquired,
		TokenRequest: h.tokenRequest,
		Saved:        h.saved,
		LoginDone:    h.loginDone,
		TakeOver:     h.takeOver,
		RefreshDone:  h.refreshDone,
		Invalidated:  h.invalidated,
		Unauthorized: h.unauthorized,
	}
}

// hooks are the hooks of one set of attributes.
type hooks struct {
	t     *Telemetry
	attrs []attribute.KeyValue // clipped: append copies
}

// with returns the measurement option for h's attributes and kvs.
func (h *hooks) with(kvs ...attribute.KeyValue) metric.MeasurementOption {
	return metric.WithAttributes(append(h.attrs, kvs...)...)
}

// spanKey is the context key of a refresh's span, so that the hooks touch
// only spans they started, never a caller's.
type spanKey struct{}

// refreshSpan returns the span that refreshStart put in ctx, or nil.
func refreshSpan(ctx context.Context) trace.Span {
	s, _ := ctx.Value(spanKey{}).(trace.Span)
	return s
}

// event adds the event name to ctx's refresh span, if it has one.
func event(ctx context.Context, name string, kvs ...attribute.KeyValue) {
	if s := refreshSpan(ctx); s != nil {
		s.AddEvent(name, trace.WithAttributes(kvs...))
	}
}

// withError returns kvs with the message of err, if any.
func withError(err error, kvs ...attribute.KeyValue) []attribute.KeyValue {
	if err != nil {
		kvs = append(kvs, errorMessageKey.String(err.Error()))
	}
	return kvs
}

func (h *hooks) refreshStart(ctx context.Context, info tokensource.RefreshStartInfo) context.Context {
	ctx, span := h.t.tracer.Start(ctx, "tokensource.refresh", trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(append(h.attrs, reasonKey.String(string(info.Reason)))...))
	return context.WithValue(ctx, spanKey{}, span)
}

func (h *hooks) storeLoaded(ctx context.Context, info tokensource.StoreLoadedInfo) {
	event(ctx, "tokensource.store.loaded", withError(info.Err, foundKey.Bool(info.Found))...)
}

func (h *hooks) lockAcquired(ctx context.Context, wait time.Duration) {
	h.t.lockWait.Record(ctx, wait.Seconds(), h.with())
	event(ctx, "tokensource.lock.acquired", waitKey.Float64(wait.Seconds()))
}

func (h *hooks) tokenRequest(ctx context.Context) {
	event(ctx, "tokensource.token.requested")
}

func (h *hooks) saved(ctx context.Context, info tokensource.SavedInfo) {
	outcome := saveOutcomeKey.String("saved")
	if info.Err != nil {
		outcome = saveOutcomeKey.String("failed")
	}
	h.t.saves.Add(ctx, 1, h.with(outcome))
	event(ctx, "tokensource.token.saved", withError(info.Err, outcome)...)
}

func (h *hooks) loginDone(ctx context.Context, info tokensource.LoginDoneInfo) {
	outcome := loginOutcomeKey.String("logged_in")
	if info.Err != nil {
		outcome = loginOutcomeKey.String("failed")
	}
	h.t.logins.Add(ctx, 1, h.with(outcome))
	event(ctx, "tokensource.login.done", withError(info.Err, outcome, loginDurationKey.Float64(info.Duration.Seconds()))...)
}

func (h *hooks) takeOver(ctx context.Context, info tokensource.TakeOverInfo) {
	h.t.takeovers.Add(ctx, 1, h.with())
	event(ctx, "tokensource.intent.taken_over", waitedKey.Float64(info.Waited.Seconds()))
}

func (h *hooks) refreshDone(ctx context.Context, info tokensource.RefreshDoneInfo) {
	outcome := outcomeKey.String(string(info.Outcome))
	attrs := h.with(reasonKey.String(string(info.Reason)), outcome)
	h.t.refreshes.Add(ctx, 1, attrs)
	h.t.duration.Record(ctx, info.Duration.Seconds(), attrs)
	span := refreshSpan(ctx)
	if span == nil {
		return
	}
	span.SetAttributes(outcome)
	if !info.Expiry.IsZero() {
		span.SetAttributes(expiryKey.String(info.Expiry.UTC().Format(time.RFC3339)))
	}
	if info.Err != nil {
		span.SetStatus(codes.Error, info.Err.Error())
	}
	span.End()
}

func (h *hooks) invalidated(ctx context.Context, info tokensource.InvalidatedInfo) {
	h.t.invalidations.Add(ctx, 1, h.with(neverWorkedKey.Bool(info.NeverWorked)))
}

// unauthorized counts a rejection, by whatever client it came: a
// tokensource.Transport, grpcsource, or any caller of Source.Rejected.
func (h *hooks) unauthorized(ctx context.Context, info tokensource.UnauthorizedInfo) {
	kv := rejectionKey.String(string(rejectionOutcome(info)))
	h.t.rejections.Add(ctx, 1, h.with(kv))
	kvs := []attribute.KeyValue{kv}
	if info.StatusCode != 0 {
		kvs = append(kvs, responseStatusKey.Int(info.StatusCode))
	}
	trace.SpanFromContext(ctx).AddEvent("tokensource.rejection", trace.WithAttributes(kvs...))
}

// rejectionOutcome returns info's outcome, worked out as Source.Rejected
// does when the hook is called directly without one.
func rejectionOutcome(info tokensource.UnauthorizedInfo) tokensource.RejectionOutcome {
	switch {
	case info.Outcome != "":
		return info.Outcome
	case !info.Retried:
		return tokensource.RejectionReturned
	case info.StatusCode == 0:
		return tokensource.RejectionError
	case info.StatusCode == http.StatusUnauthorized:
		return tokensource.RejectionRejected
	}
	return tokensource.RejectionRecovered
}
