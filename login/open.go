package login

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// browserGrace is how long OpenSystemBrowser waits for a browser command to
// fail. Openers such as xdg-open and open return at once; a browser that a
// command starts in the foreground runs until the user closes it, and is
// taken as opened.
const browserGrace = 3 * time.Second

// OpenSystemBrowser opens url in the user's browser, as Browser does when
// BrowserOptions.Open is nil.
//
// On Windows it runs rundll32 url.dll,FileProtocolHandler, on macOS open,
// and elsewhere xdg-open. On every system but Windows, a BROWSER variable in
// the environment comes first, read as xdg-open reads it: a colon-separated
// list of commands, each tried in turn until one succeeds; in a command,
// %s stands for the URL, which is otherwise added as its last argument.
// When BROWSER is set, it alone is used. Commands run without a shell, so
// nothing in the URL is interpreted.
//
// It returns nil once a command has exited with status 0, or is still
// running after 3 seconds; the command is then left running, and reaped
// when it exits.
func OpenSystemBrowser(url string) error {
	var errs []error
	for _, args := range browserCommands(runtime.GOOS, os.Getenv("BROWSER"), url) {
		err := start(args)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", args[0], err))
	}
	return fmt.Errorf("login: cannot open a browser: %w", errors.Join(errs...))
}

// browserCommands returns the commands that may open url on goos, in the
// order to try them, given the value of BROWSER.
func browserCommands(goos, browserEnv, url string) [][]string {
	if goos == "windows" {
		return [][]string{{"rundll32", "url.dll,FileProtocolHandler", url}}
	}
	var cmds [][]string
	for entry := range strings.SplitSeq(browserEnv, ":") {
		args := strings.Fields(entry)
		if len(args) == 0 {
			continue
		}
		substituted := false
		for i, a := range args {
			if strings.Contains(a, "%s") {
				args[i] = strings.ReplaceAll(a, "%s", url)
				substituted = true
			}
		}
		if !substituted {
			args = append(args, url)
		}
		cmds = append(cmds, args)
	}
	switch {
	case len(cmds) > 0:
		return cmds
	case goos == "darwin":
		return [][]string{{"open", url}}
	}
	return [][]string{{"xdg-open", url}}
}

// start runs args and reports its failure within browserGrace.
func start(args []string) error {
	cmd := exec.Command(args[0], args[1:]...)
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }() // also reaps a browser left running
	t := time.NewTimer(browserGrace)
	defer t.Stop()
	select {
	case err := <-exited:
		return err
	case <-t.C:
		return nil
	}
}
