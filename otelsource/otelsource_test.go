package otelsource

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/oauth2"
)

// scripted is what script did: the callers' spans, in the order of the
// refreshes they started, and the reason/outcome each refresh should have.
type scripted struct {
	callers []trace.SpanContext
	ends    []string
}

// script runs r's Source through every outcome of a refresh, a failed
// save and both kinds of rejection, with each request in a caller's span.
func script(r *rig) scripted {
	r.t.Helper()
	var s scripted
	refresh := func(sc trace.SpanContext, ends ...string) {
		for range ends {
			s.callers = append(s.callers, sc)
		}
		s.ends = append(s.ends, ends...)
	}
	refresh(r.wantGet("first use", http.StatusOK), "missing/loaded")

	r.clock.Advance(2 * time.Hour)
	refresh(r.wantGet("expiry", http.StatusOK), "expired/refreshed")

	r.srv.FailNext(1, tokensourcetest.FaultServerError)
	r.clock.Advance(2 * time.Hour)
	refresh(r.wantGet("endpoint down", 0), "expired/failed")
	r.wantGet("during the backoff", 0) // no refresh: the BackoffError comes at once

	r.clock.Advance(time.Minute)
	if tok, err := r.other.Token(); err != nil { // another process refreshes and saves
		r.t.Fatal(err)
	} else {
		r.addToken(tok)
	}
	refresh(r.wantGet("saved by another process", http.StatusOK), "expired/adopted")

	r.srv.RevokeAccessToken(r.current().AccessToken)
	refresh(r.wantGet("revoked: recovered", http.StatusOK), "rejected/refreshed")

	r.store.failSaves.Store(1) // tried again before the store's lock is released
	r.clock.Advance(2 * time.Hour)
	refresh(r.wantGet("a save fails once", http.StatusOK), "expired/refreshed")

	r.clock.Advance(time.Hour - tokensource.DefaultEarlyExpiry - tokensource.DefaultRefreshAhead/2)
	refresh(r.wantGet("in the refresh-ahead window", http.StatusOK), "ahead/refreshed")
	if err := r.src.Wait(context.Background()); err != nil {
		r.t.Fatal(err)
	}

	// Two new tokens in a row are rejected before they worked: a failed
	// refresh. The first alone may just have been revoked.
	r.reject.Store(true)
	refresh(r.wantGet("rejected again", http.StatusUnauthorized), "rejected/refreshed")
	r.wantGet("rejected before it worked", http.StatusUnauthorized) // its backoff starts no refresh
	r.reject.Store(false)
	r.clock.Advance(time.Minute)
	refresh(r.wantGet("after its backoff", http.StatusOK), "rejected/refreshed")

	r.srv.RevokeFamily(r.current().RefreshToken)
	r.clock.Advance(2 * time.Hour)
	refresh(r.wantGet("refresh token revoked, and the login fails", 0), "expired/reauth")
	refresh(r.wantGet("still revoked, in the login's cooldown", 0), "expired/backoff")

	r.logIn.Store(true)
	r.clock.Advance(tokensource.DefaultLoginCooldown)
	refresh(r.wantGet("a login", http.StatusOK), "expired/logged_in")
	return s
}

// sum returns the sum of the points of the counter name whose attributes
// include kvs.
func sum(ms []metricdata.Metrics, name string, kvs ...attribute.KeyValue) int64 {
	var n int64
	for _, m := range ms {
		if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == name {
			for _, p := range d.DataPoints {
				if hasAll(p.Attributes, kvs) {
					n += p.Value
				}
			}
		}
	}
	return n
}

// count returns the number of values recorded in the histogram name.
func count(ms []metricdata.Metrics, name string) uint64 {
	var n uint64
	for _, m := range ms {
		if d, ok := m.Data.(metricdata.Histogram[float64]); ok && m.Name == name {
			for _, p := range d.DataPoints {
				n += p.Count
			}
		}
	}
	return n
}

// pointAttrs returns the attributes of each point of m.
func pointAttrs(m metricdata.Metrics) []attribute.Set {
	var sets []attribute.Set
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			sets = append(sets, p.Attributes)
		}
	}
	return sets
}

// attr returns the value of key in kvs, or "".
func attr(kvs []attribute.KeyValue, key attribute.Key) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value.String()
		}
	}
	return ""
}

func hasAll(set attribute.Set, kvs []attribute.KeyValue) bool {
	for _, kv := range kvs {
		if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
			return false
		}
	}
	return true
}

// outcome returns the attribute of a refresh outcome.
func outcome(o tokensource.RefreshOutcome) attribute.KeyValue { return outcomeKey.String(string(o)) }

func TestMetricsAddUpToStats(t *testing.T) {
	r := newRig(t)
	s := script(r)
	ms := r.collect()

	never := neverWorkedKey.Bool(true)
	got := tokensource.Stats{
		Refreshes: sum(ms, "tokensource.refreshes", outcome(tokensource.OutcomeRefreshed)),
		Adopted:   sum(ms, "tokensource.refreshes", outcome(tokensource.OutcomeAdopted)),
		RefreshErrors: sum(ms, "tokensource.refreshes", outcome(tokensource.OutcomeFailed)) +
			sum(ms, "tokensource.refreshes", outcome(tokensource.OutcomeReauth)) +
			sum(ms, "tokensource.invalidations", never),
		Saves:         sum(ms, "tokensource.saves", saveOutcomeKey.String("saved")),
		SaveErrors:    sum(ms, "tokensource.saves", saveOutcomeKey.String("failed")),
		Invalidations: sum(ms, "tokensource.invalidations"),
		TakeOvers:     sum(ms, "tokensource.takeovers"),
		Logins:        sum(ms, "tokensource.logins", loginOutcomeKey.String("logged_in")),
		LoginErrors:   sum(ms, "tokensource.logins", loginOutcomeKey.String("failed")),
	}
	want := r.src.Stats()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Stats (-) and what the metrics add up to (+) differ:\n%s", diff)
	}
	if want.Refreshes == 0 || want.RefreshErrors == 0 || want.Adopted == 0 || want.Saves == 0 || want.SaveErrors == 0 || want.Invalidations == 0 ||
		want.Logins == 0 || want.LoginErrors == 0 ||
		sum(ms, "tokensource.invalidations", never) == 0 {
		t.Errorf("Stats = %+v: the script missed a count", want)
	}

	// Each refresh once, by its reason and outcome, in each metric.
	var ends []string
	for _, m := range ms {
		if d, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "tokensource.refreshes" {
			for _, p := range d.DataPoints {
				reason, _ := p.Attributes.Value(reasonKey)
				outcome, _ := p.Attributes.Value(outcomeKey)
				for range p.Value {
					ends = append(ends, reason.AsString()+"/"+outcome.AsString())
				}
			}
		}
	}
	wantEnds := slices.Clone(s.ends)
	slices.Sort(wantEnds)
	slices.Sort(ends)
	if diff := cmp.Diff(wantEnds, ends); diff != "" {
		t.Errorf("refreshes by reason/outcome (-want +got):\n%s", diff)
	}
	if n := count(ms, "tokensource.refresh.duration"); n != uint64(len(s.ends)) {
		t.Errorf("tokensource.refresh.duration has %d values, want %d", n, len(s.ends))
	}
	locks := 0
	for _, span := range r.refreshSpans() {
		for _, e := range span.Events() {
			if e.Name == "tokensource.lock.acquired" {
				locks++
			}
		}
	}
	if n := count(ms, "tokensource.lock.wait_time"); locks == 0 || n != uint64(locks) {
		t.Errorf("tokensource.lock.wait_time has %d values, for %d lock.acquired events", n, locks)
	}
	for _, o := range []string{"recovered", "returned"} {
		if n := sum(ms, "tokensource.rejections", rejectionKey.String(o)); n != 1 {
			t.Errorf("%d rejections %s, want 1", n, o)
		}
	}

	// Every point carries the Source's attribute.
	for _, m := range ms {
		points := pointAttrs(m)
		if len(points) == 0 {
			t.Errorf("%s: no point", m.Name)
		}
		for _, set := range points {
			if !hasAll(set, []attribute.KeyValue{account}) {
				t.Errorf("%s: a point without %v: %v", m.Name, account, set.ToSlice())
			}
		}
	}
}

func TestRefreshSpansAreChildrenOfTheCallersSpans(t *testing.T) {
	r := newRig(t)
	s := script(r)
	spans := r.refreshSpans()
	if len(spans) != len(s.ends) {
		t.Fatalf("%d refresh spans, want %d", len(spans), len(s.ends))
	}
	for i, span := range spans {
		caller := s.callers[i]
		if got := attr(span.Attributes(), reasonKey) + "/" + attr(span.Attributes(), outcomeKey); got != s.ends[i] {
			t.Errorf("refresh %d is %s, want %s", i, got, s.ends[i])
		}
		if span.Parent().SpanID() != caller.SpanID() || span.SpanContext().TraceID() != caller.TraceID() {
			t.Errorf("refresh %d (%s): parent %v in trace %v, want the caller's span %v in %v", i, s.ends[i],
				span.Parent().SpanID(), span.SpanContext().TraceID(), caller.SpanID(), caller.TraceID())
		}
		if span.SpanKind() != trace.SpanKindInternal {
			t.Errorf("refresh %d: kind %v, want internal", i, span.SpanKind())
		}
	}

	// The second refresh, an expiry: the steps of the procedure in order.
	var events []string
	for _, e := range spans[1].Events() {
		events = append(events, e.Name)
	}
	want := []string{"tokensource.store.loaded", "tokensource.lock.acquired", "tokensource.store.loaded",
		"tokensource.token.requested", "tokensource.token.saved"}
	if diff := cmp.Diff(want, events); diff != "" {
		t.Errorf("events of a refresh (-want +got):\n%s", diff)
	}
	if attr(spans[1].Attributes(), expiryKey) == "" || spans[1].Status().Description != "" {
		t.Errorf("refresh: attributes %v, status %v; want an expiry and no error", spans[1].Attributes(), spans[1].Status())
	}
	if failed := spans[2]; failed.Status().Description == "" {
		t.Errorf("failed refresh: status %v, want an error", failed.Status())
	}

	// The logins: the last refresh's, and the failed one three before it.
	for i, want := range map[int]string{len(spans) - 3: "failed", len(spans) - 1: "logged_in"} {
		var got []string
		for _, e := range spans[i].Events() {
			if e.Name == "tokensource.login.done" {
				got = append(got, attr(e.Attributes, loginOutcomeKey))
			}
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("refresh %d (%s): login events %v, want one %s", i, s.ends[i], got, want)
		}
	}

	// The callers whose request was rejected got an event on their span.
	rejections := map[string]string{}
	for _, span := range r.spans.Ended() {
		for _, e := range span.Events() {
			if e.Name == "tokensource.rejection" {
				rejections[span.Name()] = attr(e.Attributes, rejectionKey)
			}
		}
	}
	wantRejections := map[string]string{"revoked: recovered": "recovered", "rejected again": "rejected", "rejected before it worked": "returned"}
	if diff := cmp.Diff(wantRejections, rejections); diff != "" {
		t.Errorf("rejection events on the callers' spans (-want +got):\n%s", diff)
	}
}

func TestNoTokenInTelemetry(t *testing.T) {
	r := newRig(t)
	script(r)
	var texts []string
	note := func(where string, kvs ...attribute.KeyValue) {
		for _, kv := range kvs {
			texts = append(texts, where+": "+string(kv.Key)+"="+kv.Value.String())
		}
	}
	for _, span := range r.spans.Ended() {
		where := "span " + span.Name()
		texts = append(texts, where, where+" status: "+span.Status().Description)
		note(where, span.Attributes()...)
		for _, e := range span.Events() {
			texts = append(texts, where+" event "+e.Name)
			note(where+" event "+e.Name, e.Attributes...)
		}
	}
	for _, m := range r.collect() {
		texts = append(texts, m.Name+" "+m.Unit+" "+m.Description)
		for _, set := range pointAttrs(m) {
			note(m.Name, set.ToSlice()...)
		}
	}
	texts = append(texts, "log: "+r.log.String())

	secrets := r.secretList()
	if len(secrets) < 10 || len(texts) < 100 || !strings.Contains(r.log.String(), "refresh failed") {
		t.Fatalf("the scan saw %d tokens, %d texts and this log; too little:\n%s", len(secrets), len(texts), r.log.String())
	}
	for _, secret := range secrets {
		for _, text := range texts {
			if strings.Contains(text, secret) {
				t.Errorf("token %s in %s", secret, text)
			}
		}
	}
}

// gauge returns the points of the remaining-lifetime gauge, by account.
func gauge(ms []metricdata.Metrics) map[string]float64 {
	points := map[string]float64{}
	for _, m := range ms {
		if d, ok := m.Data.(metricdata.Gauge[float64]); ok && m.Name == "tokensource.token.remaining_lifetime" {
			for _, p := range d.DataPoints {
				a, _ := p.Attributes.Value("account")
				points[a.AsString()] = p.Value
			}
		}
	}
	return points
}

func TestGaugeReportsRemainingLifetime(t *testing.T) {
	r := newRig(t)
	if got := gauge(r.collect()); len(got) != 0 {
		t.Errorf("gauge before the first load: %v, want no point", got)
	}
	tok := r.current()
	r.clock.Advance(20 * time.Minute)
	want := tok.Expiry.Sub(r.clock.Now()).Seconds()
	if got := gauge(r.collect()); !cmp.Equal(got, map[string]float64{"acme": want}) {
		t.Errorf("gauge = %v, want acme: %v", got, want)
	}
	r.src.Invalidate(tok)
	if got := gauge(r.collect()); len(got) != 0 {
		t.Errorf("gauge after Invalidate: %v, want no point", got)
	}
}

func TestGaugeDropsCollectedSources(t *testing.T) {
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
	kept := observedSource(t, tel, "kept")
	observedSource(t, tel, "dropped")
	if got := collect(); len(got) != 2 {
		t.Fatalf("gauge = %v, want both Sources", got)
	}
	for range 10 { // a cycle may leave it for the next
		runtime.GC()
		if _, ok := collect()["dropped"]; !ok {
			break
		}
	}
	if got := collect(); len(got) != 1 || got["kept"] == 0 {
		t.Errorf("gauge = %v, want the kept Source alone", got)
	}
	if n := heldSources(tel, 1); n != 1 {
		t.Errorf("Telemetry still holds %d Sources, want 1", n)
	}
	runtime.KeepAlive(kept)
}

// heldSources returns how many Sources tel holds for the gauge, once as few
// as want, or after 100 GCs: the cleanups of collected Sources run after
// a GC.
func heldSources(tel *Telemetry, want int) int {
	n := 0
	for range 100 {
		runtime.GC()
		runtime.Gosched()
		tel.mu.Lock()
		n = max(len(tel.observed), len(tel.setOf))
		tel.mu.Unlock()
		if n <= want {
			break
		}
	}
	return n
}

// TestGaugeForgetsCollectedSourcesWithoutCollecting checks that a program
// whose gauge is never collected (no SDK installed) does not keep an entry
// for every Source it ever observed.
func TestGaugeForgetsCollectedSourcesWithoutCollecting(t *testing.T) {
	tel, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		observedSource(t, tel, "account-"+strconv.Itoa(i))
	}
	if n := heldSources(tel, 0); n != 0 {
		t.Errorf("Telemetry holds %d Sources, want 0", n)
	}
}

// TestGaugeReportsTheLatestSourceOfAnAttributeSet observes a Source, then
// its replacement with the same attributes, as a Pool's new Source of a
// key: the gauge reports the replacement's token alone.
func TestGaugeReportsTheLatestSourceOfAnAttributeSet(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	defer mp.Shutdown(context.Background())
	tel, err := New(WithMeterProvider(mp))
	if err != nil {
		t.Fatal(err)
	}
	old := observedSourceLiving(t, tel, "acme", 10*time.Minute)
	replacement := observedSourceLiving(t, tel, "acme", 50*time.Minute)
	for range 10 {
		var rm metricdata.ResourceMetrics
		if err := reader.Collect(context.Background(), &rm); err != nil {
			t.Fatal(err)
		}
		want, _ := replacement.Remaining()
		if got := gauge(rm.ScopeMetrics[0].Metrics); len(got) != 1 || got["acme"] < want.Seconds()-60 {
			t.Fatalf("gauge = %v, want acme: the replacement's %v", got, want)
		}
	}
	runtime.KeepAlive(old)
}

// observedSource returns a Source with a valid token, observed by tel with
// the account name.
func observedSource(t *testing.T, tel *Telemetry, name string) *tokensource.Source {
	t.Helper()
	return observedSourceLiving(t, tel, name, time.Hour)
}

// observedSourceLiving is observedSource with a token that lives life.
func observedSourceLiving(t *testing.T, tel *Telemetry, name string, life time.Duration) *tokensource.Source {
	t.Helper()
	st := tokensource.NewMemoryStore()
	if err := st.Save(context.Background(), &oauth2.Token{AccessToken: "a-" + name, Expiry: time.Now().Add(life)}); err != nil {
		t.Fatal(err)
	}
	src := tokensource.New(func(context.Context, *oauth2.Token) (*oauth2.Token, error) {
		return nil, errors.New("no refresh expected")
	}, st, nil)
	if _, err := src.Token(); err != nil {
		t.Fatal(err)
	}
	tel.Observe(src, attribute.String("account", name))
	return src
}

// TestTakeOversCount: a take-over counts, with the Source's attributes,
// and is an event of the refresh that took over.
func TestTakeOversCount(t *testing.T) {
	r := newRig(t)
	h := r.tel.Hooks(account)
	ctx := h.RefreshStart(context.Background(), tokensource.RefreshStartInfo{Reason: tokensource.ReasonExpired})
	h.TakeOver(ctx, tokensource.TakeOverInfo{Since: r.clock.Now(), Waited: 3 * time.Second})
	h.RefreshDone(ctx, tokensource.RefreshDoneInfo{Reason: tokensource.ReasonExpired, Outcome: tokensource.OutcomeRefreshed})
	if n := sum(r.collect(), "tokensource.takeovers", account); n != 1 {
		t.Errorf("tokensource.takeovers with %v = %d, want 1", account, n)
	}
	spans := r.refreshSpans()
	if len(spans) != 1 || len(spans[0].Events()) != 1 || spans[0].Events()[0].Name != "tokensource.intent.taken_over" ||
		attr(spans[0].Events()[0].Attributes, waitedKey) != "3" {
		t.Errorf("refresh spans %v: want one, with a take-over event that waited 3 s", spans)
	}
}
