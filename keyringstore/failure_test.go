package keyringstore

import (
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zalando/go-keyring"

	"github.com/oauthkit/tokensource"
)

// TestFailedWriteKeepsPrevious makes one keyring write of a Save fail, on
// the real keyring: the first chunk, one in the middle, the last one, or
// the index. The Save fails; the previous record still loads, as it was,
// and no chunk of the failed Save is left. A failed write of the index
// that landed all the same (its reply lost) is a success: the record is
// the new one. The failures are injected over the keyring, since the
// Secret Service has no size limit to run into; the order of the writes
// is the Store's own.
func TestFailedWriteKeepsPrevious(t *testing.T) {
	const chunkSize = 100
	before, after := sampleToken("before", 1000), sampleToken("after", 1000)
	// The Save of after, over before, writes its record of generation 2.
	rec, err := tokensource.EncodeRecord(&tokensource.Record{Generation: 2, Token: after})
	if err != nil {
		t.Fatal(err)
	}
	_, chunks := layout(rec, chunkSize)
	n := len(chunks)
	for name, c := range map[string]struct {
		failSet func(chunks int) int // counting from 1; the index is chunks+1
		landed  bool
	}{
		"first chunk":          {failSet: func(int) int { return 1 }},
		"a chunk":              {failSet: func(n int) int { return n / 2 }},
		"last chunk":           {failSet: func(n int) int { return n }},
		"index":                {failSet: func(n int) int { return n + 1 }},
		"index, yet it landed": {failSet: func(n int) int { return n + 1 }, landed: true},
	} {
		t.Run(name, func(t *testing.T) {
			s := newStore(t, &Options{ChunkSize: chunkSize})
			mustSave(t, s, before)
			_, old := rawIndex(t, s)
			f := &faulty{provider: s.kr, failSet: c.failSet(n), landed: c.landed}
			s.kr = f
			err := s.Save(testCtx(t), after)
			s.kr = f.provider
			if len(f.written) < f.failSet {
				t.Fatalf("the Save made %d writes; want %d or more", len(f.written), f.failSet)
			}
			if index := f.written[f.failSet-1] == s.User(); index != strings.HasPrefix(name, "index") {
				t.Fatalf("write %d, to %s, failed; want it to be the %s", f.failSet, f.written[f.failSet-1], name)
			}
			if c.landed {
				if err != nil {
					t.Fatalf("Save whose index write failed but landed: %v", err)
				}
				wantToken(t, mustLoad(t, s), after)
				wantGone(t, s, old.ID, old.Chunks)
				return
			}
			if !errors.Is(err, errInjected) {
				t.Fatalf("Save with a failing write: %v; want the injected failure", err)
			}
			wantStoreError(t, err, s)
			wantToken(t, mustLoad(t, s), before)
			if _, idx := rawIndex(t, s); idx.ID != old.ID {
				t.Fatal("the index changed")
			}
			rawChunks(t, s, old)
			for _, user := range f.written {
				if user == s.User() {
					continue
				}
				if _, err := keyring.Get(s.Service(), user); !errors.Is(err, keyring.ErrNotFound) {
					t.Errorf("the failed Save left its chunk %s (%v)", user, err)
				}
			}
		})
	}
}

// TestKilledWriterLeavesARecord kills a process in the middle of its
// Saves, each of some 15 chunks, and loads: the record is whole, the one
// the process was saving when it was killed or the one before, never a
// mix, and never missing chunks. The killed process held the put lock:
// the Save after it takes it, and deletes every chunk the killed one left
// that no index names.
func TestKilledWriterLeavesARecord(t *testing.T) {
	needKeyring(t)
	const chunkSize = 128
	s := newStore(t, &Options{ChunkSize: chunkSize, LockPath: t.TempDir() + "/lock"})
	midWrite := 0
	for round := range 3 {
		c := startChild(t, childSpec{Part: "save-loop", Service: s.Service(), LockPath: s.LockPath(), ChunkSize: chunkSize}, nil, nil)
		c.Await(t, "saving 1") // the first Save is done: there is a record
		time.Sleep(time.Duration(rand.N(100)) * time.Millisecond)
		c.Signal(os.Kill)
		c.Wait()
		last := 1 // the Save under way when the process was killed, or the last one done
		for _, line := range c.Lines() {
			if n, ok := strings.CutPrefix(line, "saving "); ok {
				last, _ = strconv.Atoi(n)
			}
		}
		tok, err := s.Load(testCtx(t))
		if err != nil {
			t.Fatalf("round %d: Load after the writer was killed: %v", round, err)
		}
		switch tok.AccessToken {
		case "secret-at-" + strconv.Itoa(last-1):
			midWrite++
		case "secret-at-" + strconv.Itoa(last):
		default:
			t.Fatalf("round %d: loaded a token of neither Save %d nor Save %d", round, last-1, last)
		}
		// The chunks of the killed Save, which no index may name, are
		// deleted by the next one.
		unnamed := s.readOrphans()
		mustSave(t, s, sampleToken("parent", 1500))
		for _, c := range unnamed {
			wantGone(t, s, c.ID, c.Chunks)
		}
	}
	t.Logf("%d of 3 kills came in the middle of a Save", midWrite)
}

// TestUnnamedChunksAreDeletedByTheNextSave: a Save whose write fails and
// whose deletes fail too leaves its chunks, which no index names, in
// the keyring; so does a Save whose old chunks cannot be deleted. The
// next Save deletes them all, though the keyring cannot list its items.
func TestUnnamedChunksAreDeletedByTheNextSave(t *testing.T) {
	const chunkSize = 100
	s := newStore(t, &Options{ChunkSize: chunkSize})
	mustSave(t, s, sampleToken("first", 1000))
	_, first := rawIndex(t, s)

	// The write of the first chunk fails, though it landed, and the
	// failed Save cannot delete it.
	f := &faulty{provider: s.kr, failSet: 1, landed: true, noDelete: true}
	s.kr = f
	if err := s.Save(testCtx(t), sampleToken("failed", 1000)); !errors.Is(err, errInjected) {
		t.Fatalf("Save with a failing write: %v", err)
	}
	s.kr = f.provider
	left := f.written[0] // a chunk of the failed Save, still there
	if _, err := keyring.Get(s.Service(), left); err != nil {
		t.Fatalf("the failed Save's chunk %s: %v; want it left, as its delete failed", left, err)
	}

	// A Save that cannot delete the chunks of the record it replaces.
	f = &faulty{provider: s.kr, noDelete: true}
	s.kr = f
	mustSave(t, s, sampleToken("second", 1000))
	s.kr = f.provider
	rawChunks(t, s, first) // still there

	mustSave(t, s, sampleToken("third", 1000))
	_, third := rawIndex(t, s)
	wantGone(t, s, first.ID, first.Chunks)
	if _, err := keyring.Get(s.Service(), left); !errors.Is(err, keyring.ErrNotFound) {
		t.Errorf("the failed Save's chunk %s: %v; want it deleted", left, err)
	}
	if sets := s.readOrphans(); len(sets) != 0 {
		t.Errorf("%d chunk sets still noted, want none", len(sets))
	}
	wantToken(t, mustLoad(t, s), sampleToken("third", 1000))
	rawChunks(t, s, third)
}
