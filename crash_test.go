//go:build unix

package tokensource

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
)

// The child process of TestFileStoreSurvivesSIGKILL is TestCrashChild,
// told through these variables which file to write and the sequence number
// to start from.
const (
	crashFileEnv = "TOKENSOURCE_TEST_CRASH_FILE"
	crashSeqEnv  = "TOKENSOURCE_TEST_CRASH_SEQ"
)

// crashMaxIDToken is the largest id_token the crash test writes: token files
// range from about 150 bytes to a little over 64 KiB, so that a kill lands
// in writes of every size, some of them split over many write calls.
const crashMaxIDToken = 64 << 10

// crashToken returns token seq of the crash test. Every field is derived
// from seq, so that the parent can rebuild the whole token from its access
// token "a<seq>" and tell a token written completely from anything else.
func crashToken(seq int64) *oauth2.Token {
	r := rand.New(rand.NewPCG(uint64(seq), 0x5eed))
	size := r.IntN(crashMaxIDToken + 1)
	if seq%7 == 0 {
		size = 0 // no id_token at all: the field is omitted
	}
	pattern := fmt.Sprintf("id-%d.", seq)
	idToken := strings.Repeat(pattern, size/len(pattern)+1)[:size]
	tok := &oauth2.Token{
		AccessToken:  "a" + itoa(seq),
		TokenType:    "Bearer",
		RefreshToken: "r" + itoa(seq),
		Expiry:       time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Second),
		ExpiresIn:    seq,
	}
	if size == 0 {
		return tok
	}
	return tok.WithExtra(map[string]any{"id_token": idToken})
}

// crashSeq returns the sequence number of tok, and an error unless tok is
// exactly crashToken of that number, id_token included.
func crashSeq(tok *oauth2.Token) (int64, error) {
	seq, err := strconv.ParseInt(strings.TrimPrefix(tok.AccessToken, "a"), 10, 64)
	if err != nil || !strings.HasPrefix(tok.AccessToken, "a") {
		return 0, fmt.Errorf("access token %.40q is not a<seq>", tok.AccessToken)
	}
	want := crashToken(seq)
	if diff := cmp.Diff(want, tok, tokenCmp); diff != "" {
		return 0, fmt.Errorf("token %d is not the one written (-want +got):\n%.2000s", seq, diff)
	}
	if got, want := tok.Extra("id_token"), want.Extra("id_token"); got != want {
		return 0, fmt.Errorf("token %d: id_token of %d bytes differs from the one written (%d bytes)",
			seq, len(fmt.Sprint(got)), len(fmt.Sprint(want)))
	}
	return seq, nil
}

// TestCrashChild is not a test: run by TestFileStoreSurvivesSIGKILL in a
// child process, it says "ready" on stdout, then saves crashToken(n),
// crashToken(n+1), ... to the file in a loop, printing each sequence number
// after its Save returned, until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashFileEnv)
	if path == "" {
		t.Skip("child process of TestFileStoreSurvivesSIGKILL")
	}
	seq, err := strconv.ParseInt(os.Getenv(crashSeqEnv), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	store := NewFileStore(path)
	fmt.Fprintln(os.Stdout, "ready")
	for ; ; seq++ {
		if err := store.Save(context.Background(), crashToken(seq)); err != nil {
			t.Fatal(err)
		}
		// One write of a few bytes to a pipe: a kill cannot tear it.
		fmt.Fprintln(os.Stdout, seq)
	}
}

// TestFileStoreSurvivesSIGKILL kills a process that saves tokens in a tight
// loop at random moments, and checks after every kill that the token file
// loads and holds a token that was written completely: the last one whose
// Save returned, or the one being saved if the kill came after its rename.
// The kills run in a few lanes at once, each with its own directory, to keep
// the test short.
//
// A kill between the creation of the temporary file and the rename leaves
// that file behind, until the next Save. The test checks that each kill
// leaves at most one, private to the user, that nothing else appears in the
// directory, and that a Save after the last kill leaves only the token
// file.
func TestFileStoreSurvivesSIGKILL(t *testing.T) {
	const lanes = 4
	killsPerLane := 50 // 200 in all
	if testing.Short() {
		killsPerLane = 5
	}
	for lane := range lanes {
		t.Run(fmt.Sprint("lane", lane), func(t *testing.T) {
			t.Parallel()
			crashLane(t, killsPerLane)
		})
	}
}

func crashLane(t *testing.T, kills int) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token.json")
	store := NewFileStore(path)
	mustSave(t, store, crashToken(0))
	var last int64      // sequence number in the file after the last kill
	var leftovers int   // temporary files left in the directory
	var afterRename int // kills that came between a rename and its report
	var midWrite int    // kills that left a temporary file
	for kill := range kills {
		reported := runCrashChild(t, path, last+1)
		if reported == 0 {
			reported = last // the child saved nothing before it died
		}
		tok, err := store.Load(context.Background())
		if err != nil {
			t.Fatalf("kill %d: %v", kill, err)
		}
		seq, err := crashSeq(tok)
		if err != nil {
			t.Fatalf("kill %d: the file holds a token that was not written completely: %v", kill, err)
		}
		switch seq {
		case reported:
		case reported + 1:
			afterRename++
		default:
			t.Fatalf("kill %d: the file holds token %d; the last save to return was of token %d", kill, seq, reported)
		}
		if seq < last {
			t.Fatalf("kill %d: the file went back from token %d to %d", kill, last, seq)
		}
		last = seq

		n := countTempFiles(t, dir, "token.json")
		if n > leftovers+1 {
			t.Fatalf("kill %d: %d temporary files, %d before it: one kill left more than one", kill, n, leftovers)
		}
		if n > leftovers {
			midWrite++
		}
		leftovers = n
	}
	t.Logf("%d kills: the last token saved is %d; %d kills came after a rename, %d left a temporary file; %d temporary files remained",
		kills, last, afterRename, midWrite, leftovers)

	// Their writers are dead: the next Save removes what they left.
	mustSave(t, store, crashToken(last+1))
	checkDirHolds(t, dir, "token.json", "token.json.put")
}

// runCrashChild starts TestCrashChild on path from sequence number first,
// kills it 1 to 15ms after it said it was ready, and returns the last
// sequence number it reported saved, or 0 if none.
func runCrashChild(t *testing.T, path string, first int64) (reported int64) {
	t.Helper()
	// The context only stops a child that would otherwise outlive a failed
	// test; every child is killed long before it ends.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashFileEnv+"="+path, crashSeqEnv+"="+itoa(first))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	var other []string // anything the child said that is not expected
	select {
	case line, ok := <-lines:
		if !ok || line != "ready" {
			other = append(other, line)
		}
	case <-time.After(10 * time.Second):
		other = append(other, "(no ready line within 10s)")
	}
	if other == nil {
		time.Sleep(time.Duration(1+rand.IntN(15)) * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Errorf("SIGKILL: %v", err)
	}
	for line := range lines {
		n, err := strconv.ParseInt(line, 10, 64)
		if err != nil {
			other = append(other, line)
			continue
		}
		if n != max(reported+1, first) {
			other = append(other, fmt.Sprintf("(reported %d after %d)", n, reported))
		}
		reported = n
	}
	err = cmd.Wait()
	var exit *exec.ExitError
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !errors.As(err, &exit) || !ws.Signaled() || ws.Signal() != syscall.SIGKILL || other != nil {
		t.Fatalf("child process: %v; stdout %q; stderr:\n%s", err, other, stderr.Bytes())
	}
	return reported
}

// countTempFiles returns the number of temporary files of FileStore Saves
// to base in dir, checking that they are private to the user, and fails t
// if dir holds anything but base and those files.
func countTempFiles(t *testing.T, dir, base string) int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Name() == base || e.Name() == base+".put" {
			continue
		}
		if !strings.HasPrefix(e.Name(), "."+base+".tmp") {
			t.Fatalf("unexpected file %s in %s", e.Name(), dir)
		}
		info, err := e.Info()
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		if err == nil && info.Mode().Perm() != 0o600 {
			t.Errorf("temporary file %s has mode %v, want 0600: it may hold a token", e.Name(), info.Mode().Perm())
		}
		n++
	}
	return n
}
