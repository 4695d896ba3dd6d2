package tokensource

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/oauthkit/tokensource/tokensourcetest"
	"golang.org/x/oauth2"
)

// A serverRig is the whole package at work, the way a program uses it: a
// Source made by FromConfig against a tokensourcetest server, keeping its
// token in a FileStore, with the server and the Source on one driven clock.
type serverRig struct {
	srv   *tokensourcetest.Server
	clock *tokensourcetest.Clock
	path  string // the token file
	store *FileStore
	opts  Options         // the Source's, with Now on the rig clock
	ctx   context.Context // whose oauth2.HTTPClient the Source uses
	src   *Source
}

// rigStart is where rig clocks start: far from the real time, so that code
// reading the wrong clock fails.
var rigStart = time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)

// newServerRig starts a server, logs the user in, saves the first token to
// a new token file, and returns a Source for it with opts (nil means
// defaults), its Now replaced by the rig clock. The server is closed when
// the test ends, which also closes the idle connections of the default
// client that FromConfig uses.
func newServerRig(t *testing.T, opts *Options) *serverRig {
	t.Helper()
	clock := tokensourcetest.NewClock(rigStart)
	srv := tokensourcetest.NewServer(&tokensourcetest.Options{Now: clock.Now})
	t.Cleanup(srv.Close)
	r := &serverRig{
		srv:   srv,
		clock: clock,
		path:  filepath.Join(t.TempDir(), "token.json"),
		ctx:   context.Background(),
	}
	r.store = NewFileStore(r.path)
	mustSave(t, r.store, srv.Login())
	if opts != nil {
		r.opts = *opts
	}
	r.opts.Now = clock.Now
	r.src = r.newSource(srv.Config())
	return r
}

// newSource returns another Source for the rig's token file, with the
// rig's options and HTTP client, refreshing with conf.
func (r *serverRig) newSource(conf *oauth2.Config) *Source {
	return r.newSourceWith(conf, r.store)
}

// newSourceWith is newSource with another store.
func (r *serverRig) newSourceWith(conf *oauth2.Config, store Store) *Source {
	o := r.opts
	return FromConfig(r.ctx, conf, store, &o)
}

// requests returns the number of requests the token endpoint received.
func (r *serverRig) requests() int64 { return r.srv.Stats().TokenRequests }

// expire moves the clock past the expiry of every token the server issued
// so far, so that the next call needs a refresh.
func (r *serverRig) expire() {
	r.clock.Advance(tokensourcetest.DefaultAccessTokenLifetime + time.Second)
}

// callMany has callers goroutines call TokenContext calls times each, all
// at once, and returns every result.
func callMany(src *Source, callers, calls int) ([]*oauth2.Token, []error) {
	toks := make([]*oauth2.Token, callers*calls)
	errs := make([]error, callers*calls)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range calls {
				toks[c*calls+i], errs[c*calls+i] = src.TokenContext(context.Background())
			}
		})
	}
	wg.Wait()
	return toks, errs
}
