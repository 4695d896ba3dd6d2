package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/oauthkit/tokensource"
)

// childEnv is the environment variable that turns the demo into the second
// process of phase 3. Its value is a JSON childConfig: where the server and
// the store are, never a token; the -store URL, with any password in it,
// goes in the environment, never on a command line or in the output.
const childEnv = "TOKENSOURCE_DEMO_CHILD"

type childConfig struct {
	Role     string        `json:"role"`   // "login": phase 0; "work": phase 3
	Server   string        `json:"server"` // base URL of the tokensourcetest server
	Store    string        `json:"store"`  // the -store URL; "" for the file store
	Key      string        `json:"key"`    // the token file, or the key on the server
	Duration time.Duration `json:"duration"`
	Workers  int           `json:"workers"`
	Verbose  bool          `json:"verbose"`
	DPoP     bool          `json:"dpop"`
}

// childResult is what the second process reports on its stdout when done.
type childResult struct {
	OK, Failed, Recovered int64
	Failures              []string
	Stats                 tokensource.Stats
}

// childReady is the line the second process writes once it is set up.
const childReady = "ready"

// runChild is the second process: its own Source on the shared store,
// no login, the same workload as the first process. It writes childReady,
// works for the configured duration, then writes a JSON childResult.
func runChild(env string, stdout, stderr io.Writer) int {
	var cfg childConfig
	if err := json.Unmarshal([]byte(env), &cfg); err != nil || cfg.Server == "" || cfg.Key == "" || cfg.Workers <= 0 {
		fmt.Fprintf(stderr, "demo: %s is not a valid child configuration (%v)\n", childEnv, err)
		return 2
	}
	u, err := parseStoreURL(cfg.Store)
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 2
	}
	st, err := openStore(u, cfg.Key)
	if err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	defer st.close()
	conf := childConf(cfg.Server)
	c := newClients(cfg.Workers)
	defer c.close()
	opts := &tokensource.Options{Logger: newLogger(cfg.Verbose, stderr, "other process")}
	if cfg.Role == "login" {
		opts.Login = browserLogin(conf)
	}
	if cfg.DPoP {
		opts.DPoP = &tokensource.DPoPOptions{}
	}
	src := tokensource.FromConfig(c.tokenCtx, conf, st.open(), opts)
	client := tokensource.NewClient(c.apiCtx, src)

	fmt.Fprintln(stdout, childReady)
	var t tally
	if cfg.Role == "login" {
		if _, err := src.Token(); err != nil {
			t.fail(err.Error())
		}
	} else {
		stop := make(chan struct{})
		time.AfterFunc(cfg.Duration, func() { close(stop) })
		work(client, cfg.Server+"/resource", cfg.Workers, stop, &t)
	}
	// A refresh may still run in the background: let it save its token
	// before this process exits, or its rotated refresh token is lost.
	if err := src.Wait(context.Background()); err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}

	res := childResult{
		OK:        t.ok.Load(),
		Failed:    t.failed.Load(),
		Recovered: t.recovered.Load(),
		Failures:  t.reasons(),
		Stats:     src.Stats(),
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		fmt.Fprintln(stderr, "demo:", err)
		return 1
	}
	return 0
}

// child is the second process, seen from the first.
type child struct {
	cmd   *exec.Cmd
	lines chan string // its stdout, line by line; closed at EOF
}

// startChild runs this program again as the second process and waits until
// it is ready to work.
func startChild(cfg childConfig, stderr io.Writer) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program to run it again: %w", err)
	}
	env, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), childEnv+"="+string(env))
	cmd.Stderr = &prefixWriter{w: stderr, prefix: "    [other process] "}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the second process: %w", err)
	}
	ch := &child{cmd: cmd, lines: make(chan string, 2)}
	go func() {
		defer close(ch.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			ch.lines <- sc.Text()
		}
	}()
	if line, err := ch.next(15 * time.Second); err != nil || line != childReady {
		ch.stop()
		return nil, fmt.Errorf("the second process did not start (%q, %v)", line, err)
	}
	return ch, nil
}

// next returns the next line the child writes, waiting at most d.
func (c *child) next(d time.Duration) (string, error) {
	select {
	case line, ok := <-c.lines:
		if !ok {
			return "", io.EOF
		}
		return line, nil
	case <-time.After(d):
		return "", errors.New("timed out")
	}
}

// result waits for the child's result and for it to exit.
func (c *child) result(d time.Duration) (childResult, error) {
	var res childResult
	line, err := c.next(d)
	if err != nil {
		c.stop()
		return res, fmt.Errorf("no result from the second process: %w", err)
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		c.stop()
		return res, fmt.Errorf("the second process wrote %q: %w", line, err)
	}
	for range c.lines { // let the reader reach EOF before Wait
	}
	if err := c.cmd.Wait(); err != nil {
		return res, fmt.Errorf("the second process: %w", err)
	}
	return res, nil
}

// stop kills the child and reaps it.
func (c *child) stop() {
	c.cmd.Process.Kill()
	for range c.lines {
	}
	c.cmd.Wait()
}

// prefixWriter writes each line written to it to w, after prefix.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := append([]byte(p.prefix), p.buf[:i+1]...)
		p.buf = p.buf[i+1:]
		if _, err := p.w.Write(line); err != nil {
			return len(b), err
		}
	}
}
