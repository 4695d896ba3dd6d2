package redisstore

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/oauth2"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"github.com/oauthkit/tokensource/tokensourcetest/netfault"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

// These tests put real faults between replicas and Redis (a TCP proxy per
// replica that stalls, resets or refuses its link), in front of a token
// server that rotates refresh tokens and revokes the whole grant when a
// spent one comes back. Each asserts that no refresh token is used twice,
// that the store ends with a grant that works, and logs how long the
// recovery took once the fault ended.

// faultRig is a token server and the replicas that share its grant
// through one Redis key.
type faultRig struct {
	t   *testing.T
	srv *tokensourcetest.Server
	key string
	raw *redis.Client         // straight to Redis, not through a proxy
	enc tokensource.Encrypter // every Store's Options.Encrypter; nil: plain records
}

// A replica is one process sharing the grant: a Source on a Store whose
// client reaches Redis through its own proxy.
type replica struct {
	proxy *netfault.Proxy
	store *Store
	src   *tokensource.Source
}

func newFaultRig(t *testing.T, opts *tokensourcetest.Options) *faultRig {
	t.Helper()
	srv := tokensourcetest.NewServer(opts)
	t.Cleanup(srv.Close)
	return &faultRig{t: t, srv: srv, key: uniqueKey(t), raw: newClient(t)}
}

// replica starts a replica with the given lease and Source options.
func (r *faultRig) replica(lockTTL time.Duration, opts *tokensource.Options) *replica {
	r.t.Helper()
	p := startProxy(r.t, redisAddr(r.t))
	c := clientWith(r.t, &redis.Options{Addr: p.Addr(), ContextTimeoutEnabled: true, MaxRetries: -1,
		DialTimeout: 500 * time.Millisecond})
	st := New(c, r.key, &Options{LockTTL: lockTTL, Encrypter: r.enc, RequireEncryption: r.enc != nil})
	src := tokensource.FromConfig(context.Background(), r.srv.Config(), st, opts)
	r.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		src.Wait(ctx)
	})
	return &replica{proxy: p, store: st, src: src}
}

// opts are the Options of a Store straight to Redis.
func (r *faultRig) opts() *Options {
	return &Options{Encrypter: r.enc, RequireEncryption: r.enc != nil}
}

// sealed makes every Store of r encrypt its record, and checks at t's end
// that the value in Redis shows none of the tokens the server issued.
func (r *faultRig) sealed() *faultRig {
	r.enc = storetest.NewEncrypter(r.t)
	r.t.Cleanup(func() {
		raw, err := r.raw.Get(context.Background(), New(r.raw, r.key, nil).TokenKey()).Bytes()
		if err != nil {
			r.t.Errorf("reading the sealed value: %v", err)
			return
		}
		tok := r.stored()
		if tok == nil {
			r.t.Error("the sealed value does not open")
			return
		}
		for what, clear := range map[string]string{"access token": tok.AccessToken,
			"refresh token": tok.RefreshToken, "fields": `"refresh_token"`} {
			if bytes.Contains(raw, []byte(clear)) {
				r.t.Errorf("the Redis value is not sealed: it shows the record's %s", what)
			}
		}
	})
	return r
}

// login saves a new grant, straight to Redis.
func (r *faultRig) login() *oauth2.Token {
	r.t.Helper()
	tok := r.srv.Login()
	mustSave(r.t, New(r.raw, r.key, r.opts()), tok)
	return tok
}

// stored returns the token in Redis, or nil.
func (r *faultRig) stored() *oauth2.Token {
	tok, err := New(r.raw, r.key, r.opts()).Load(context.Background())
	if err != nil {
		return nil
	}
	return tok
}

// waitStored waits, no longer than limit, until Redis holds a token with
// the refresh token rt, and returns how long that took.
func (r *faultRig) waitStored(rt string, limit time.Duration) time.Duration {
	r.t.Helper()
	began := time.Now()
	for time.Since(began) < limit {
		if tok := r.stored(); tok != nil && tok.RefreshToken == rt {
			return time.Since(began)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.t.Fatalf("Redis did not get the new refresh token within %v", limit)
	return 0
}

// works checks that tok is accepted by the resource.
func (r *faultRig) works(tok *oauth2.Token) bool {
	c := &http.Client{Transport: &oauth2.Transport{Source: oauth2.StaticTokenSource(tok)}}
	return get(c, r.srv.ResourceURL()) == nil
}

// check asserts the promise: no refresh token was used twice, and the
// grant in the store still refreshes (a new replica, on a clean link,
// refreshes with it), at most maxFailed token requests having failed.
func (r *faultRig) check(maxFailed int64) {
	r.t.Helper()
	if st := r.srv.Stats(); st.ReuseDetected != 0 {
		r.t.Fatalf("server stats %+v: a refresh token was used twice, and the grant was revoked", st)
	}
	fresh := r.replica(5*time.Second, &tokensource.Options{RefreshTimeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tok, err := fresh.src.Refresh(ctx)
	if err != nil {
		r.t.Fatalf("the stored grant no longer refreshes: %v", err)
	}
	if !r.works(tok) {
		r.t.Fatal("the token refreshed from the stored grant is rejected")
	}
	st := r.srv.Stats()
	if st.ReuseDetected != 0 {
		r.t.Fatalf("server stats %+v: reuse", st)
	}
	if st.RefreshFailures > maxFailed {
		r.t.Errorf("%d token requests failed, want at most %d", st.RefreshFailures, maxFailed)
	}
	r.t.Logf("token requests %d, refreshes %d, failed %d, reused 0", st.TokenRequests, st.Refreshes, st.RefreshFailures)
}

// sealedToo runs scenario twice: on plain records, and on records sealed
// by an Encrypter, whose compare-and-swap is on the sealed bytes.
func sealedToo(t *testing.T, opts *tokensourcetest.Options, scenario func(*testing.T, *faultRig)) {
	t.Run("plain", func(t *testing.T) { scenario(t, newFaultRig(t, opts)) })
	t.Run("sealed", func(t *testing.T) { scenario(t, newFaultRig(t, opts).sealed()) })
}

// onTokenRequest returns Options whose TokenRequest hook calls fn once.
func onTokenRequest(timeout time.Duration, fn func()) *tokensource.Options {
	var once sync.Once
	return &tokensource.Options{RefreshTimeout: timeout, Hooks: &tokensource.Hooks{
		TokenRequest: func(context.Context) { once.Do(fn) },
	}}
}

// Scenario 1: the holder's link to Redis stalls for 2.5 s right after its
// token request, longer than its RefreshTimeout (1 s) and its lease (2 s).
// Another replica that refreshes meanwhile must not send the refresh token
// the holder spent: it waits for the holder's intent, and adopts the
// holder's token once its link is back.
func TestStalledLinkAfterTokenRequestLosesNoGrant(t *testing.T) {
	sealedToo(t, &tokensourcetest.Options{Latency: 200 * time.Millisecond}, stalledLinkAfterTokenRequestLosesNoGrant)
}

func stalledLinkAfterTokenRequestLosesNoGrant(t *testing.T, r *faultRig) {
	r.login()
	var a *replica
	stallEnds := make(chan time.Time, 1)
	a = r.replica(2*time.Second, onTokenRequest(time.Second, func() {
		a.proxy.Stall()
		time.AfterFunc(2500*time.Millisecond, func() {
			a.proxy.Resume()
			stallEnds <- time.Now()
		})
	}))
	b := r.replica(2*time.Second, &tokensource.Options{RefreshTimeout: time.Second})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	aTok, err := a.src.Refresh(ctx)
	if err != nil {
		t.Fatalf("A: %v", err)
	}
	var bTok *oauth2.Token
	for bTok == nil && ctx.Err() == nil {
		// B's refresh may end before A's link is back: it waited for A's
		// intent as long as its RefreshTimeout allowed. It tries again.
		bTok, _ = b.src.Refresh(ctx)
	}
	if bTok == nil || bTok.AccessToken != aTok.AccessToken {
		t.Fatalf("B got %v, want A's token, adopted", bTok != nil)
	}
	recovered := r.waitStored(aTok.RefreshToken, 10*time.Second)
	t.Logf("recovery: Redis held A's token %v after the check began (stall ended %v ago)", recovered, time.Since(<-stallEnds))
	r.check(0)
}

// Scenario 2: the token endpoint takes 2 s, twice the lease of 1 s, and
// three replicas refresh at once. The lease is kept alive while held, and
// the intent tells the others to wait: one token request, no reuse, and
// every replica ends with the working token.
func TestTokenEndpointSlowerThanLeaseLosesNoGrant(t *testing.T) {
	r := newFaultRig(t, &tokensourcetest.Options{Latency: 2 * time.Second})
	r.login()
	var reps []*replica
	for range 3 {
		reps = append(reps, r.replica(time.Second, &tokensource.Options{RefreshTimeout: 5 * time.Second}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	toks := make([]*oauth2.Token, len(reps))
	errs := make([]error, len(reps))
	var wg sync.WaitGroup
	for i, rep := range reps {
		wg.Go(func() { toks[i], errs[i] = rep.src.Refresh(ctx) })
	}
	wg.Wait()
	for i := range reps {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		if !r.works(toks[i]) {
			t.Errorf("replica %d ended with a token the resource rejects", i)
		}
	}
	if n := r.srv.Stats().Refreshes; n != 1 {
		t.Errorf("%d refreshes, want 1: the others adopt it", n)
	}
	r.check(0)
}

// Scenario 3: Redis goes away for 4 s from A's token request. A serves its
// new token all the same, and saves it in the background once Redis is
// back, though nothing asks A for a token: B, refreshing later, must find
// the new refresh token, not the spent one.
func TestStoreDownAfterTokenRequestLosesNoGrant(t *testing.T) {
	sealedToo(t, &tokensourcetest.Options{Latency: 100 * time.Millisecond}, storeDownAfterTokenRequestLosesNoGrant)
}

func storeDownAfterTokenRequestLosesNoGrant(t *testing.T, r *faultRig) {
	r.login()
	var a *replica
	back := make(chan time.Time, 1)
	a = r.replica(2*time.Second, onTokenRequest(time.Second, func() {
		a.proxy.Refuse(true)
		a.proxy.Reset()
		time.AfterFunc(4*time.Second, func() {
			a.proxy.Refuse(false)
			back <- time.Now()
		})
	}))
	b := r.replica(2*time.Second, &tokensource.Options{RefreshTimeout: time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	aTok, err := a.src.Refresh(ctx)
	if err != nil {
		t.Fatalf("A, with Redis down: %v; want its new token served", err)
	}
	if !r.works(aTok) {
		t.Fatal("A's token is rejected")
	}
	since := <-back
	r.waitStored(aTok.RefreshToken, 15*time.Second)
	t.Logf("recovery: Redis held A's token %v after it was back", time.Since(since))
	bTok, err := b.src.Refresh(ctx)
	if err != nil {
		t.Fatalf("B: %v", err)
	}
	if !r.works(bTok) {
		t.Fatal("B's token is rejected")
	}
	r.check(0)
}

// Scenario 4: Redis loses the record (FLUSHDB) while two replicas hold the
// grant in memory. That is data loss, not a log-out: the next refresh
// writes the grant back and goes on.
func TestFlushedStoreIsWrittenBack(t *testing.T) {
	sealedToo(t, nil, flushedStoreIsWrittenBack)
}

func flushedStoreIsWrittenBack(t *testing.T, r *faultRig) {
	r.login()
	a := r.replica(2*time.Second, &tokensource.Options{RefreshTimeout: 2 * time.Second})
	b := r.replica(2*time.Second, &tokensource.Options{RefreshTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := a.src.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.src.TokenContext(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.raw.Del(ctx, a.store.TokenKey()).Err(); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	for _, rep := range []*replica{a, b} {
		tok, err := rep.src.Refresh(ctx)
		if err != nil {
			t.Fatalf("a replica after the flush: %v; want the grant written back", err)
		}
		if !r.works(tok) {
			t.Fatal("the token after the flush is rejected")
		}
	}
	if r.stored() == nil {
		t.Fatal("Redis is still empty")
	}
	t.Logf("recovery: %v from the flush to both replicas refreshed", time.Since(began))
	r.check(0)
}

// Scenario 5: a login is saved while a refresh of the old grant takes
// 800 ms. The refresh's save must not overwrite the login: the replica
// ends with the login's grant, and never asks for another login.
func TestLoginDuringRefreshIsKept(t *testing.T) {
	r := newFaultRig(t, &tokensourcetest.Options{Latency: 800 * time.Millisecond})
	r.login()
	logins := make(chan *oauth2.Token, 1)
	a := r.replica(5*time.Second, onTokenRequest(5*time.Second, func() {
		// The login lands while the token request is in flight.
		time.AfterFunc(300*time.Millisecond, func() { logins <- r.login() })
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tok, err := a.src.Refresh(ctx)
	login := <-logins
	if errors.Is(err, tokensource.ErrReauthRequired) {
		t.Fatalf("after a login: %v", err)
	}
	if err == nil && tok.AccessToken != login.AccessToken {
		// The refresh may fail (its token was dropped for the login's);
		// a token it returns must be the login's.
		t.Fatalf("the replica serves the old grant's token, not the login's")
	}
	if got := r.stored(); got == nil || got.RefreshToken != login.RefreshToken {
		t.Fatal("the refresh overwrote the login in Redis")
	}
	if got, err := a.src.TokenContext(ctx); err != nil || got.AccessToken != login.AccessToken {
		t.Fatalf("TokenContext = %v, %v; want the login's token", got != nil, err)
	}
	r.check(0)
}
