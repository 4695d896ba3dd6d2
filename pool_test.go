package tokensource

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/oauthkit/tokensource/tokensourcetest"
)

// poolRig is a Pool on a test clock whose newSource counts its calls per
// key. Its Sources refresh through endpoint.
type poolRig struct {
	*Pool
	clock    *tokensourcetest.Clock
	endpoint *fakeEndpoint

	mu   sync.Mutex
	made map[string]int // newSource calls, by key
}

const poolIdle = time.Hour

func newPoolRig(idle time.Duration) *poolRig {
	r := &poolRig{clock: newTestClock(), made: map[string]int{}}
	r.endpoint = &fakeEndpoint{next: rotating(r.clock, 100*time.Hour)}
	r.Pool = NewPool(func(key string) *Source {
		r.mu.Lock()
		r.made[key]++
		r.mu.Unlock()
		return New(r.endpoint.refresh, NewMemoryStore(), &Options{Now: r.clock.Now})
	}, &PoolOptions{IdleTimeout: idle, Now: r.clock.Now})
	return r
}

// creations returns how many times newSource was called for key.
func (r *poolRig) creations(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.made[key]
}

// holds reports whether p holds a Source for key, without counting as a Get.
func (p *Pool) holds(key string) bool {
	_, ok := p.sources.Load(key)
	return ok
}

// heldPool returns a Pool whose first newSource call closes entered, waits
// for release, and then calls then (if not nil). calls counts newSource calls.
func heldPool(then func()) (p *Pool, entered, release chan struct{}, calls *atomic.Int64) {
	entered, release, calls = make(chan struct{}), make(chan struct{}), new(atomic.Int64)
	p = NewPool(func(key string) *Source {
		if calls.Add(1) == 1 {
			close(entered)
			<-release
			if then != nil {
				then()
			}
		}
		return New(failingRefresh, nil, nil)
	}, nil)
	return p, entered, release, calls
}

// countPoolWaiters makes testHookPoolWaiting count Gets that wait for
// another Get's newSource, until the test ends.
func countPoolWaiters(t *testing.T) *atomic.Int64 {
	var n atomic.Int64
	testHookPoolWaiting = func() { n.Add(1) }
	t.Cleanup(func() { testHookPoolWaiting = func() {} })
	return &n
}

// sweepAfter advances the clock by d and creates a Source for a new key,
// which sweeps the Pool.
func (r *poolRig) sweepAfter(d time.Duration) {
	r.clock.Advance(d)
	r.Get(fmt.Sprintf("sweeper-%d", r.clock.Now().UnixNano()))
}

func TestPoolGetReturnsOneSourcePerKey(t *testing.T) {
	r := newPoolRig(poolIdle)
	a, b := r.Get("a"), r.Get("b")
	if a == b {
		t.Fatal("two keys share a Source")
	}
	if r.Get("a") != a || r.Get("b") != b {
		t.Fatal("a second Get returned another Source")
	}
	if r.creations("a") != 1 || r.creations("b") != 1 {
		t.Fatalf("newSource called %d times for a, %d for b; want 1 each", r.creations("a"), r.creations("b"))
	}
}

// Every Get of a new key but the one calling newSource waits for it (the
// hook counts them), then all get its Source.
func TestPoolConcurrentGetsOfNewKeyCreateOneSource(t *testing.T) {
	const callers = 64
	waiting := countPoolWaiters(t)
	p, entered, release, calls := heldPool(nil)

	got := make([]*Source, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() { got[i] = p.Get("k") })
	}
	recv(t, entered)
	awaitCount(t, waiting, callers-1)
	close(release)
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("newSource called %d times, want 1", n)
	}
	for i, s := range got {
		if s != got[0] {
			t.Fatalf("caller %d got another Source than caller 0", i)
		}
	}
}

// Many goroutines Get new keys at once, with no hook holding them, in
// rounds of fresh keys.
func TestPoolRacingGetsCreateOneSourcePerKey(t *testing.T) {
	const rounds, keys, callers = 50, 8, 16
	r := newPoolRig(poolIdle)
	for round := range rounds {
		got := make([][]*Source, keys)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for k := range keys {
			got[k] = make([]*Source, callers)
			for i := range callers {
				wg.Go(func() {
					<-start
					got[k][i] = r.Get(fmt.Sprint(round, "/", k))
				})
			}
		}
		close(start)
		wg.Wait()
		for k := range keys {
			if n := r.creations(fmt.Sprint(round, "/", k)); n != 1 {
				t.Fatalf("round %d, key %d: newSource called %d times, want 1", round, k, n)
			}
			for i, s := range got[k] {
				if s != got[k][0] {
					t.Fatalf("round %d, key %d: caller %d got another Source than caller 0", round, k, i)
				}
			}
		}
	}
}

func TestPoolGetOfHeldKeyAllocatesNothing(t *testing.T) {
	r := newPoolRig(poolIdle)
	r.Get("a")
	if n := testing.AllocsPerRun(100, func() { r.Get("a") }); n != 0 {
		t.Fatalf("Get of a held key allocates %v times, want 0", n)
	}
}

// A Source is dropped by the first sweep that finds it unused for
// IdleTimeout: the sweep after its last Get notes it used, and a sweep
// IdleTimeout later, not sooner, drops it.
func TestPoolDropsSourceIdleForIdleTimeout(t *testing.T) {
	for _, tc := range []struct {
		after time.Duration
		held  bool
	}{
		{poolIdle - time.Nanosecond, true},
		{poolIdle, false},
	} {
		r := newPoolRig(poolIdle)
		r.Get("a")
		r.sweepAfter(poolIdle)
		if !r.holds("a") {
			t.Fatal("a was dropped by the first sweep after its Get")
		}
		r.sweepAfter(tc.after)
		if r.holds("a") != tc.held {
			t.Errorf("seen idle for %v: held %t, want %t", tc.after, r.holds("a"), tc.held)
		}
	}
}

// In a Pool that creates a Source at least every IdleTimeout/4, a Source is
// dropped between IdleTimeout and 2 × IdleTimeout after its last Get. With
// creations just under IdleTimeout/4 apart, a sweep runs at every other
// one: the worst case.
func TestPoolDropsSourceWithinTwiceIdleTimeout(t *testing.T) {
	for _, every := range []time.Duration{poolIdle / 4, poolIdle/4 - time.Nanosecond, poolIdle / 100} {
		r := newPoolRig(poolIdle)
		r.Get("a")
		var elapsed time.Duration
		for elapsed <= 2*poolIdle && r.holds("a") {
			r.sweepAfter(every)
			elapsed += every
		}
		if elapsed < poolIdle || elapsed > 2*poolIdle {
			t.Errorf("creating every %v: a dropped after %v, want between %v and %v", every, elapsed, poolIdle, 2*poolIdle)
		}
	}
}

func TestPoolKeepsSourceAskedForWithinIdleTimeout(t *testing.T) {
	r := newPoolRig(poolIdle)
	a := r.Get("a")
	for range 20 {
		r.sweepAfter(poolIdle / 2)
		if r.Get("a") != a {
			t.Fatal("a Source asked for every IdleTimeout/2 was replaced")
		}
	}
	if n := r.creations("a"); n != 1 {
		t.Fatalf("newSource called %d times for a, want 1", n)
	}
}

func TestPoolZeroIdleTimeoutKeepsSources(t *testing.T) {
	for _, idle := range []time.Duration{0, -time.Hour} {
		r := newPoolRig(idle)
		a := r.Get("a")
		for range 10 {
			r.sweepAfter(1000 * time.Hour)
		}
		if r.Get("a") != a || r.creations("a") != 1 {
			t.Fatalf("a Pool with IdleTimeout %v dropped a Source", idle)
		}
	}
}

func TestPoolKeepsSourceWithRefreshRunning(t *testing.T) {
	r := newPoolRig(poolIdle)
	r.endpoint.entered = make(chan struct{}, 1)
	r.endpoint.release = make(chan struct{})
	a := r.Get("a")
	done := make(chan error)
	go func() {
		_, err := a.Token()
		done <- err
	}()
	recv(t, r.endpoint.entered)

	for range 4 {
		r.sweepAfter(poolIdle)
	}
	if !r.holds("a") {
		t.Fatal("a Source was dropped while its refresh ran")
	}

	close(r.endpoint.release)
	if err := recv(t, done); err != nil {
		t.Fatal(err)
	}
	a.waitIdle(t)
	r.sweepAfter(poolIdle)
	if r.holds("a") {
		t.Fatal("a is still held, idle, once its refresh ended")
	}
}

// A caller holding a dropped Source keeps using it; the next Get creates a
// new Source for the key.
func TestPoolGetOfDroppedKeyCreatesNewSource(t *testing.T) {
	r := newPoolRig(poolIdle)
	old := r.Get("a")
	mustToken(t, old, "a1")
	r.sweepAfter(poolIdle)
	r.sweepAfter(poolIdle)
	if r.holds("a") {
		t.Fatal("a was not dropped")
	}

	mustToken(t, old, "a1")
	if s := r.Get("a"); s == old {
		t.Fatal("Get of a dropped key returned the dropped Source")
	}
	if n := r.creations("a"); n != 2 {
		t.Fatalf("newSource called %d times for a, want 2", n)
	}
}

func TestPoolDeleteDropsSource(t *testing.T) {
	r := newPoolRig(poolIdle)
	old := r.Get("a")
	r.Delete("a")
	r.Delete("never-created")
	if r.holds("a") {
		t.Fatal("a is still held after Delete")
	}
	if r.Get("a") == old || r.creations("a") != 2 {
		t.Fatal("Get after Delete did not create a new Source")
	}
}

// A Source whose creation was under way when Delete ran goes to the Gets
// that waited for it, but the Pool does not keep it.
func TestPoolDeleteDuringCreationDoesNotKeepSource(t *testing.T) {
	p, entered, release, calls := heldPool(nil)
	got := make(chan *Source)
	go func() { got <- p.Get("a") }()
	recv(t, entered)
	p.Delete("a")
	close(release)
	first := recv(t, got)
	if p.holds("a") {
		t.Fatal("the Source created during Delete was kept")
	}
	if p.Get("a") == first || calls.Load() != 2 {
		t.Fatal("Get after Delete did not create a new Source")
	}
}

func TestPoolNewSourcePanicGoesToItsGetAndWaitersRetry(t *testing.T) {
	waiting := countPoolWaiters(t)
	p, entered, release, calls := heldPool(func() { panic("no such account") })

	panicked := make(chan any)
	go func() {
		defer func() { panicked <- recover() }()
		p.Get("a")
	}()
	recv(t, entered)
	waiter := make(chan *Source)
	go func() { waiter <- p.Get("a") }()
	awaitCount(t, waiting, 1)
	close(release)

	if v := recv(t, panicked); v != "no such account" {
		t.Fatalf("the creating Get recovered %v, want newSource's panic", v)
	}
	if s := recv(t, waiter); s == nil || p.Get("a") != s {
		t.Fatal("the waiting Get did not create the Source the Pool holds")
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("newSource called %d times, want 2", n)
	}
}

func TestPoolPanicsOnNilNewSourceAndNilSource(t *testing.T) {
	wantPanic(t, "NewPool with a nil newSource", func() { NewPool(nil, nil) })
	p := NewPool(func(string) *Source { return nil }, nil)
	wantPanic(t, "newSource returned nil", func() { p.Get("a") })
	if p.holds("a") {
		t.Fatal("the Pool holds a nil Source")
	}
}

// wantPanic checks that f panics with a message containing want.
func wantPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		if msg, _ := recover().(string); !strings.Contains(msg, want) {
			t.Fatalf("panic %q, want one containing %q", msg, want)
		}
	}()
	f()
}

// A Get that read the epoch before a sweep began, and marks its entry after
// the sweep looked at it, counts as a Get at the time of that sweep: its
// Source is held for IdleTimeout after.
func TestPoolGetMarkingDuringSweepKeepsSource(t *testing.T) {
	r := newPoolRig(poolIdle)
	r.Get("a")
	r.sweepAfter(poolIdle / 4)
	r.clock.Advance(poolIdle / 4)
	var once sync.Once
	testHookPoolMarking = func() { once.Do(func() { r.Get("sweeper-while-marking") }) }
	t.Cleanup(func() { testHookPoolMarking = func() {} })
	r.Get("a")

	r.sweepAfter(poolIdle / 4)
	r.sweepAfter(poolIdle / 2)
	if !r.holds("a") {
		t.Fatalf("a dropped %v after its last Get", poolIdle*3/4)
	}
}

// Gets run concurrently with the sweeps: a Source asked for during a
// sweep must still be held for IdleTimeout after, and dropped by 1.5 ×
// IdleTimeout. Each step moves the clock by IdleTimeout/4, so a Source asked
// for at step j is held at steps j to j+3, and gone at step j+6.
func TestPoolSweepRacingGetsKeepsRecentSources(t *testing.T) {
	const keys, steps, perStep = 64, 200, 16
	r := newPoolRig(poolIdle)
	lastGet := make([]int, keys) // the step of each key's last Get, or -1
	for k := range lastGet {
		lastGet[k] = -1
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range steps {
		r.clock.Advance(poolIdle / 4)
		picked := make([]int, perStep)
		for i := range picked {
			picked[i] = rng.IntN(keys)
		}
		var wg sync.WaitGroup
		for _, k := range picked {
			wg.Go(func() { r.Get(itoa(int64(k))) })
		}
		r.Get("sweeper-" + itoa(int64(step)))
		wg.Wait()
		for _, k := range picked {
			lastGet[k] = step
		}
		for k, j := range lastGet {
			held := r.holds(itoa(int64(k)))
			if j >= 0 && step-j <= 3 && !held {
				t.Fatalf("step %d: key %d dropped, last asked for at step %d", step, k, j)
			}
			if j >= 0 && step-j >= 6 && held {
				t.Fatalf("step %d: key %d still held, last asked for at step %d", step, k, j)
			}
		}
	}
}
