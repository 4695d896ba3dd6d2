package keyringstore

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/zalando/go-keyring"
)

// Chunks that no index names still hold a record, and a token in it: the
// chunks of a Put whose process died before its index was written, and
// chunks whose deletion failed. The keyring cannot list its items, so a
// Put notes, in a file beside the put lock (its path plus ".chunks"),
// the chunk sets that may exist unnamed: its own, before it writes them,
// and those it failed to delete. The next Put, under the same lock,
// deletes every set the file names but the one its new index names. The
// file holds ids and counts only, no part of a record.

// A chunkSet is the chunks of one id.
type chunkSet struct {
	ID     string `json:"id"`
	Chunks int    `json:"chunks"`
}

// orphansPath is the file of the chunk sets that may exist unnamed.
func (s *Store) orphansPath() string { return s.lockPath + ".put.chunks" }

// readOrphans returns the chunk sets the file notes. A file missing or
// unreadable notes none: it only ever helps to clean up.
func (s *Store) readOrphans() []chunkSet {
	data, err := os.ReadFile(s.orphansPath())
	if err != nil {
		return nil
	}
	var sets []chunkSet
	if json.Unmarshal(data, &sets) != nil {
		return nil
	}
	valid := sets[:0]
	for _, c := range sets {
		if c.ID != "" && c.Chunks > 0 && c.Chunks <= maxChunks {
			valid = append(valid, c)
		}
	}
	return valid
}

// writeOrphans replaces the file with sets, or removes it when there are
// none. It writes a new file and renames it over the old, so that a
// process killed meanwhile leaves one or the other whole.
func (s *Store) writeOrphans(sets []chunkSet) error {
	path := s.orphansPath()
	if len(sets) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	data, _ := json.Marshal(sets) // ids and counts always marshal
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// deleteOrphans deletes every chunk set in sets but the one named live,
// and returns those it could not delete whole.
func (s *Store) deleteOrphans(sets []chunkSet, live string) (left []chunkSet) {
	for _, c := range sets {
		if c.ID != live && !s.remove(c.ID, c.Chunks) {
			left = append(left, c)
		}
	}
	return left
}

// withSet returns sets with c added, unless c has no chunks or is there.
func withSet(sets []chunkSet, c chunkSet) []chunkSet {
	if c.ID == "" || c.Chunks <= 0 {
		return sets
	}
	for _, have := range sets {
		if have.ID == c.ID {
			return sets
		}
	}
	return append(sets, c)
}

// gone reports whether a Delete of an item left no item: it deleted it,
// or there was none.
func gone(err error) bool { return err == nil || errors.Is(err, keyring.ErrNotFound) }
