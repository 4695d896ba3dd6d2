// Command demo shows tokensource keeping HTTP clients authenticated against
// a strict OAuth 2.0 server, and checks that it did.
//
// It starts a tokensourcetest server in the process: access tokens live two
// seconds, every refresh rotates the refresh token, and a refresh token
// presented twice revokes its whole family (RFC 9700 §4.14.2). The store
// starts empty: a FileStore, or with -store a redisstore or pgstore on the
// server the URL names. This process and a second one (this program, run
// again) start at once, each with a Source whose Login is login.Browser with
// a scripted browser: one logs in, the other adopts its token. Then
// goroutines call the server's protected resource through
// tokensource.NewClient, through three events: the server revokes the
// access token in use; the program restarts (a new Source on the same
// store, no new login); and a second process shares the store while both
// work and while the server revokes their token once more. Last, the user
// logs out: Logout revokes the refresh token at the server and leaves a
// tombstone. The demo ends with a report, and exits with status 1 if
// anything went wrong: a request failed, a phase made no successful
// request, a refresh token was presented twice, more than one login, the
// log-out did not revoke, the token file's mode is not 0600, the stored
// record is missing, the second process failed, or the setup or the
// clean-up failed; and with status 2 on bad flags.
//
// Usage, from the repository's root directory (the demo is a module of its
// own, so that the root module does not depend on Redis and PostgreSQL):
//
//	go -C cmd/demo run . [-store url] [-dir directory] [-keep] [-duration 3s] [-workers 32] [-lifetime 2s] [-dpop] [-v]
//
// Without -store, the token file goes to a temporary directory, removed at
// exit, unless -dir names one. -store redis://host:port/db or
// -store postgres://… keeps the token under a new key for each run, deleted
// at exit unless -keep. -dpop runs every phase with DPoP-bound tokens (RFC
// 9449): the server checks a proof on every request and rotates its nonce
// every second, and the Sources keep one generated key in the store. -v logs
// what the Sources do; no token value is ever printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest"
	"github.com/redis/go-redis/v9"
)

func main() {
	redis.SetLogger(quietRedis{})
	if env, ok := os.LookupEnv(childEnv); ok {
		os.Exit(runChild(env, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type config struct {
	store    storeURL
	dir      string
	keep     bool
	duration time.Duration
	workers  int
	lifetime time.Duration
	verbose  bool
	dpop     bool
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage, from the repository's root directory: go -C cmd/demo run . [flags]")
		fs.PrintDefaults()
	}
	var c config
	var store string
	fs.StringVar(&store, "store", "", "keep the token in Redis (redis://host:port/db) or PostgreSQL (postgres://…) at this `url` (default: a file)")
	fs.StringVar(&c.dir, "dir", "", "keep the token file in this `directory` (default: a temporary directory, removed at exit)")
	fs.BoolVar(&c.keep, "keep", false, "with -store, keep the token at exit (default: deleted)")
	fs.DurationVar(&c.duration, "duration", 3*time.Second, "length of each of the two workload phases")
	fs.IntVar(&c.workers, "workers", 32, "goroutines calling the API in each process")
	fs.DurationVar(&c.lifetime, "lifetime", 2*time.Second, "lifetime of the access tokens the server issues, at least 1s")
	fs.BoolVar(&c.verbose, "v", false, "log what the token sources do (never a token value)")
	fs.BoolVar(&c.dpop, "dpop", false, "sender-constrained tokens: DPoP proofs on every request, nonces that rotate every second")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	var err error
	if c.store, err = parseStoreURL(store); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case store != "" && c.dir != "":
		return c, errors.New("-dir is for the token file; with -store there is none")
	case store == "" && c.keep:
		return c, errors.New("-keep is for -store; -dir keeps the token file")
	case c.duration <= 0:
		return c, errors.New("-duration must be positive")
	case c.workers <= 0:
		return c, errors.New("-workers must be positive")
	case c.lifetime < time.Second:
		// The token response rounds expires_in down to whole seconds, and
		// 0 would mean a token that never expires.
		return c, errors.New("-lifetime must be at least 1s")
	}
	return c, nil
}

// run is the demo; it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 2
	}
	d := &demo{cfg: cfg, out: &printer{w: stdout, start: time.Now()}, stderr: stderr}
	ok := false
	if err := d.setUp(); err != nil {
		fmt.Fprintln(stderr, "demo:", err)
	} else {
		d.run()
		ok = d.report()
	}
	if err := d.close(); err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		ok = false
	}
	if !ok {
		return 1
	}
	return 0
}

// demo is one run of the demo, and what it observed.
type demo struct {
	cfg    config
	out    *printer
	stderr io.Writer

	srv     *tokensourcetest.Server
	dir     string
	tempDir bool   // dir is ours, to remove at exit
	key     string // the token file, or the key in Redis or PostgreSQL
	store   *store
	clients *clients

	first, restarted *tokensource.Source
	firstRun, later  tally
	fromStore        bool // the restarted Source's first token was the saved one, no refresh
	other            childResult
	loggedOut        bool // Logout revoked the grant, left a tombstone and stopped the Source
	problems         []string
}

func (d *demo) problem(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	d.problems = append(d.problems, msg)
	d.out.event("  problem: %s", msg)
}

func (d *demo) setUp() error {
	if err := d.setUpKey(); err != nil {
		return err
	}
	st, err := openStore(d.cfg.store, d.key)
	if err != nil {
		return err
	}
	d.store = st
	srvOpts := &tokensourcetest.Options{AccessTokenLifetime: d.cfg.lifetime}
	if d.cfg.dpop {
		srvOpts.DPoP, srvOpts.DPoPNonceLifetime = true, time.Second
	}
	d.srv = tokensourcetest.NewServer(srvOpts)
	d.clients = newClients(d.cfg.workers)
	return nil
}

// setUpKey sets where the token goes: a new key on a server, or the token
// file in its directory.
func (d *demo) setUpKey() error {
	if d.cfg.store.raw != "" {
		d.key = newKey()
		return nil
	}
	d.dir = d.cfg.dir
	if d.dir == "" {
		dir, err := os.MkdirTemp("", "tokensource-demo-")
		if err != nil {
			return err
		}
		d.dir, d.tempDir = dir, true
	}
	abs, err := filepath.Abs(filepath.Join(d.dir, "token.json"))
	if err != nil {
		return err
	}
	d.key = abs
	return nil
}

// close releases what setUp made, and deletes the token from a server
// unless -keep.
func (d *demo) close() error {
	var err error
	if d.srv != nil {
		d.srv.Close()
	}
	if d.clients != nil {
		d.clients.close()
	}
	if d.store != nil {
		if d.cfg.store.raw != "" && !d.cfg.keep {
			if err = d.store.delete(); err != nil {
				err = fmt.Errorf("deleting the token at exit: %w", err)
			}
		}
		d.store.close()
	}
	if d.tempDir {
		os.RemoveAll(d.dir)
	}
	return err
}

// newSource returns a Source on the store, as a program would make it at
// start-up, with login as its Login.
func (d *demo) newSource(name string, login tokensource.LoginFunc) *tokensource.Source {
	opts := &tokensource.Options{
		Logger:        newLogger(d.cfg.verbose, d.stderr, name),
		Login:         login,
		RevocationURL: d.srv.RevocationURL(),
	}
	if d.cfg.dpop {
		opts.DPoP = &tokensource.DPoPOptions{} // a key generated once, kept in the store
	}
	return tokensource.FromConfig(d.clients.tokenCtx, d.srv.Config(), d.store.open(), opts)
}

// childConfig is the configuration of a second process that plays role.
func (d *demo) childConfig(role string) childConfig {
	return childConfig{
		Role:     role,
		Server:   d.srv.URL,
		Store:    d.cfg.store.raw,
		Key:      d.key,
		Duration: d.cfg.duration,
		Workers:  d.cfg.workers,
		Verbose:  d.cfg.verbose,
		DPoP:     d.cfg.dpop,
	}
}

func (d *demo) run() {
	d.out.line("tokensource demo")
	d.out.line("  server      tokensourcetest on %s, in this process: access tokens live %v,", d.srv.URL, d.cfg.lifetime)
	d.out.line("              every refresh rotates the refresh token, and one used twice revokes them all")
	d.out.line("  store       %s", d.store.name)
	d.out.line("")

	if !d.logIn() {
		return
	}
	d.phase1()
	d.restart()
	d.phase3()
	d.logOut()
}

// phase1 is the first run of the program: many goroutines, and the server
// revokes the access token they use half way.
func (d *demo) phase1() {
	d.first = d.newSource("first run", nil)
	client := tokensource.NewClient(d.clients.apiCtx, d.first)
	d.out.event("phase 1: %d goroutines call the API through tokensource.NewClient for %v", d.cfg.workers, d.cfg.duration)
	d.workload(client, &d.firstRun, func() { d.revoke(client, "in use") })
	d.first.Wait(context.Background()) // the "program" ends: let a refresh still running save its token
	d.out.event("  done: %d ok, %d failed; %d recovered from a 401; Source: %s",
		d.firstRun.ok.Load(), d.firstRun.failed.Load(), d.firstRun.recovered.Load(), statsLine(d.first.Stats()))
}

// restart is the program starting again: a new Source on the same store.
func (d *demo) restart() {
	d.out.event("phase 2: restart: a new Source on %s, no login", d.store.where)
	saved, err := d.store.open().Load(d.clients.tokenCtx)
	if err != nil {
		d.problem("reading %s: %v", d.store.where, err)
		return
	}
	d.restarted = d.newSource("after restart", nil)
	tok, err := d.restarted.Token()
	if err != nil {
		d.problem("the restarted Source has no token: %v", err)
		return
	}
	d.fromStore = tok.AccessToken == saved.AccessToken && d.restarted.Stats().Refreshes == 0
	if d.fromStore {
		d.out.event("  it serves the token the first run saved, still valid: no refresh, no login")
	} else {
		d.out.event("  the saved token had expired; it refreshed with the saved refresh token, no login")
	}
	call(tokensource.NewClient(d.clients.apiCtx, d.restarted), d.srv.ResourceURL(), false, &d.later)
}

// phase3 runs the restarted program and a second process on the same
// store, and revokes the access token half way.
func (d *demo) phase3() {
	if d.restarted == nil {
		return
	}
	d.out.event("phase 3: a second process (this program, run again) shares %s; %d goroutines each for %v",
		d.store.where, d.cfg.workers, d.cfg.duration)
	ch, err := startChild(d.childConfig("work"), d.stderr)
	if err != nil {
		d.problem("%v", err)
		return
	}
	d.out.event("  process %d is working too", ch.cmd.Process.Pid)
	client := tokensource.NewClient(d.clients.apiCtx, d.restarted)
	d.workload(client, &d.later, func() { d.revoke(client, "both processes use") })
	d.restarted.Wait(context.Background())
	d.out.event("  after restart (this process): %d ok, %d failed; %d recovered from a 401; Source: %s",
		d.later.ok.Load(), d.later.failed.Load(), d.later.recovered.Load(), statsLine(d.restarted.Stats()))

	res, err := ch.result(d.cfg.duration + 15*time.Second)
	if err != nil {
		d.problem("%v", err)
		return
	}
	d.other = res
	d.out.event("  other process: %d ok, %d failed; %d recovered from a 401; Source: %s",
		res.OK, res.Failed, res.Recovered, statsLine(res.Stats))
}

// workload runs the workers for the configured duration, prints a line a
// second, and calls midway at half time.
func (d *demo) workload(client *http.Client, t *tally, midway func()) {
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		work(client, d.srv.ResourceURL(), d.cfg.workers, stop, t)
		close(done)
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	half := time.After(d.cfg.duration / 2)
	end := time.After(d.cfg.duration)
	for {
		select {
		case <-tick.C:
			d.out.event("  %6d ok, %d failed; refreshes at the server so far: %d", t.ok.Load(), t.failed.Load(), d.srv.Stats().Refreshes)
		case <-half:
			midway()
		case <-end:
			close(stop)
			<-done
			return
		}
	}
}

// revoke makes the server revoke the access token of a request it just
// accepted through client: the next requests that carry it get a 401.
// A token that no request has used yet would not do: its Source would take
// its rejection for a server that rejects every new token, and fail
// requests until its backoff ends (see tokensource.Source.Invalidate).
func (d *demo) revoke(client *http.Client, whose string) {
	tok, err := acceptedToken(client, d.srv.ResourceURL())
	if err != nil {
		d.problem("no token to revoke: %v", err)
		return
	}
	d.srv.RevokeAccessToken(tok)
	d.out.event("  the server revokes the access token %s", whose)
}

func statsLine(s tokensource.Stats) string {
	return fmt.Sprintf("refreshes %d, adopted %d, saves %d, invalidations %d",
		s.Refreshes, s.Adopted, s.Saves, s.Invalidations)
}

// report prints the summary and reports whether everything went right.
func (d *demo) report() bool {
	st := d.srv.Stats()
	var first, restarted tokensource.Stats
	if d.first != nil {
		first = d.first.Stats()
	}
	if d.restarted != nil {
		restarted = d.restarted.Stats()
	}
	ok := d.firstRun.ok.Load() + d.later.ok.Load() + d.other.OK
	failed := d.firstRun.failed.Load() + d.later.failed.Load() + d.other.Failed
	recovered := d.firstRun.recovered.Load() + d.later.recovered.Load() + d.other.Recovered
	logins := st.Issued - st.Refreshes // Login, and refresh grants, are all that issue tokens here

	if failed > 0 {
		d.problems = append(d.problems, fmt.Sprintf("%d requests failed", failed))
	}
	if d.firstRun.ok.Load() == 0 || d.later.ok.Load() == 0 || d.other.OK == 0 {
		d.problems = append(d.problems, "a process or a phase made no successful request")
	}
	if st.ReuseDetected > 0 {
		d.problems = append(d.problems, fmt.Sprintf("the server saw %d refresh tokens presented twice", st.ReuseDetected))
	}
	if logins != 1 {
		d.problems = append(d.problems, fmt.Sprintf("%d logins, want 1", logins))
	}

	d.out.line("")
	d.out.line("report")
	d.out.line("  requests        %d ok, %d failed (first run %d, after restart %d, other process %d)",
		ok, failed, d.firstRun.ok.Load(), d.later.ok.Load(), d.other.OK)
	d.out.line("  401s recovered  %d requests got a 401 after the 2 revocations, then a 200 with a new token (one refresh per revocation)", recovered)
	d.out.line("  refreshes       %d at the server; %d by the Sources (first run %d, after restart %d, other process %d)",
		st.Refreshes, first.Refreshes+restarted.Refreshes+d.other.Stats.Refreshes,
		first.Refreshes, restarted.Refreshes, d.other.Stats.Refreshes)
	d.out.line("  adopted         %d times a Source took the token the other process had just saved, instead of refreshing",
		first.Adopted+restarted.Adopted+d.other.Stats.Adopted)
	d.out.line("  logins          %d; the restart and the second process used %s", logins, d.store.where)
	d.out.line("  reuse detected  %d refresh tokens presented twice", st.ReuseDetected)
	if d.cfg.dpop {
		d.out.line("  dpop            every token bound to one key, kept in the store; %d proofs refused, %d nonce challenges answered", st.DPoPProofsRejected, st.DPoPNonceChallenges)
		if st.DPoPProofsRejected > 0 {
			d.problems = append(d.problems, fmt.Sprintf("the server refused %d DPoP proofs", st.DPoPProofsRejected))
		}
	}
	d.out.line("  logged out      %v: the refresh token revoked at the server (%d revocations), a tombstone in the store", d.loggedOut, st.Revocations)
	if d.cfg.store.raw == "" {
		d.out.line("  token file      %s", d.fileLine())
	} else {
		d.out.line("  stored token    %s", d.storedLine())
	}

	for _, s := range [][]string{d.firstRun.reasons(), d.later.reasons(), d.other.Failures} {
		for _, r := range s {
			d.out.line("  failure         %s", r)
		}
	}
	d.out.line("")
	if len(d.problems) > 0 {
		for _, p := range d.problems {
			d.out.line("FAIL: %s", p)
		}
		return false
	}
	d.out.line("ok: every request succeeded, and no refresh token was used twice")
	return true
}

// storedLine describes the token on a server, and checks it is there.
func (d *demo) storedLine() string {
	if _, err := d.store.open().Load(d.clients.tokenCtx); err != nil && !(d.loggedOut && errors.Is(err, tokensource.ErrLoggedOut)) {
		d.problems = append(d.problems, fmt.Sprintf("the stored token: %v", err))
	}
	keep := "deleted at exit; -keep keeps it"
	if d.cfg.keep {
		keep = "kept (-keep)"
	}
	return fmt.Sprintf("%s, %s", d.store.name, keep)
}

// fileLine describes the token file, and checks its mode.
func (d *demo) fileLine() string {
	fi, err := os.Stat(d.key)
	if err != nil {
		d.problems = append(d.problems, fmt.Sprintf("token file: %v", err))
		return d.key
	}
	mode := fi.Mode().Perm()
	if runtime.GOOS != "windows" && mode != 0o600 {
		d.problems = append(d.problems, fmt.Sprintf("token file mode %#o, want 0600", mode))
	}
	keep := "kept (-dir)"
	if d.tempDir {
		keep = "removed at exit; -dir keeps it"
	}
	return fmt.Sprintf("%s, mode %#o (%v), %s", d.key, mode, mode, keep)
}

// printer writes the demo's lines; event lines carry the time since start.
type printer struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

func (p *printer) event(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%4.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

func (p *printer) line(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", args...)
}
