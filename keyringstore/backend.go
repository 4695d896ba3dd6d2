package keyringstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/zalando/go-keyring"

	"github.com/oauthkit/tokensource"
)

// readAttempts bounds the reads of a record whose index writers keep
// replacing, deleting the chunks it named, while they are read.
const readAttempts = 5

// stored is a record as read: its bytes, and the index that holds or
// names them (the zero index for a value another program stored).
type stored struct {
	data []byte
	idx  index
}

// Get returns the bytes of the stored record; see [tokensource.Backend].
// It reads the index, then the chunks it names, if any, and checks them
// against its checksum. A writer that replaced the index meanwhile, and
// deleted the chunks the read wanted, makes it read the new index, a few
// times at most. The error wraps [tokensource.ErrNotFound] when the
// keyring has no index, [tokensource.ErrCorrupt] when a chunk is missing
// or the chunks do not match the index, [ErrNoKeyring] when there is no
// keyring, and ctx.Err() when ctx ended first: the keyring call under way
// goes on in the background then, to its end, and the read stops.
func (s *Store) Get(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, s.fail("load", err)
	}
	st, err := bounded(ctx, func() (stored, error) { return s.read(ctx) })
	switch {
	case errors.Is(err, keyring.ErrNotFound):
		return nil, s.fail("load", tokensource.ErrNotFound)
	case err != nil:
		return nil, s.fail("load", err)
	}
	return st.data, nil
}

// Put stores data if the keyring still holds prev byte for byte, or
// nothing when prev is nil, and otherwise writes nothing and returns an
// error wrapping [tokensource.ErrConflict]; see [tokensource.Backend]. The
// keyring has no compare-and-swap: Put reads, compares and writes under a
// file lock, LockPath plus ".put", which every Put of the service and
// user takes, in any process of the user (and apart from the one Lock
// takes, which a Source may hold around Put).
//
// A record too large for one item is written in chunks, under a new id,
// before the index that names them; then the chunks of the record it
// replaced are deleted. A Put that fails, or a process that dies during
// one, leaves the previous record as it was, readable: the new chunks are
// deleted if the index was not written, or left behind if it is unknown
// whether it was (or if the process died).
//
// Put returns by ctx's deadline even when the keyring does not answer:
// the keyring call under way goes on in the background, holding the lock
// until it ends, and nothing more is written after it (but the chunks it
// wrote are deleted, if the index was not). It is unknown then whether
// data was written: read the record again.
func (s *Store) Put(ctx context.Context, prev, data []byte) error {
	return s.locked(ctx, "save", func() error {
		cur, err := s.read(ctx)
		switch {
		case errors.Is(err, keyring.ErrNotFound):
			cur = stored{}
		case err != nil:
			return err
		}
		if (cur.data == nil) != (prev == nil) || !bytes.Equal(cur.data, prev) {
			return tokensource.ErrConflict
		}
		return s.write(ctx, data, cur.idx)
	})
}

// locked runs f, the op of the Store, under the put lock, bounded by
// ctx: f goes on in the background after ctx ended, and releases the
// lock at its end.
func (s *Store) locked(ctx context.Context, op string, f func() error) error {
	if err := ctx.Err(); err != nil {
		return s.fail(op, err)
	}
	if s.lockErr != nil {
		return s.fail(op, s.lockErr)
	}
	select {
	case s.turn <- struct{}{}:
	case <-ctx.Done():
		return s.fail(op, ctx.Err())
	}
	unlock, err := lockFile(ctx, s.lockPath+".put")
	if err != nil {
		<-s.turn
		return err // it names the lock file
	}
	_, err = bounded(ctx, func() (struct{}, error) {
		defer func() {
			unlock()
			<-s.turn
		}()
		return struct{}{}, f()
	})
	if err != nil {
		return s.fail(op, err)
	}
	return nil
}

// read reads the record: the index, and its chunks. The error wraps
// keyring.ErrNotFound when there is no index.
func (s *Store) read(ctx context.Context) (stored, error) {
	v, err := s.kr.Get(s.service, s.user)
	for attempt := 1; ; attempt++ {
		if err != nil {
			return stored{}, err
		}
		st, rerr := s.assemble(ctx, v)
		if rerr == nil || ctx.Err() != nil {
			return st, rerr
		}
		// A writer may have replaced the index meanwhile, and deleted the
		// chunks this read wanted: then the new index is the record.
		again, err2 := s.kr.Get(s.service, s.user)
		if err2 == nil && again == v {
			return stored{}, rerr // the index stands, and so does its fault
		}
		if attempt == readAttempts {
			return stored{}, errChanging
		}
		v, err = again, err2
	}
}

// assemble returns the record that v, the value of the index item,
// holds or names.
func (s *Store) assemble(ctx context.Context, v string) (stored, error) {
	idx, ours, err := parseIndex(v)
	switch {
	case err != nil:
		return stored{}, err
	case !ours:
		return stored{data: []byte(v)}, nil // stored as it is, by another program
	case idx.ID == "":
		return stored{data: idx.Record, idx: idx}, nil
	}
	chunks := make([]string, idx.Chunks)
	for n := range chunks {
		if err := ctx.Err(); err != nil {
			return stored{}, err
		}
		c, err := s.kr.Get(s.service, chunkUser(s.user, idx.ID, n))
		switch {
		case errors.Is(err, keyring.ErrNotFound):
			return stored{}, &damaged{index: v, why: fmt.Sprintf("chunk %d of %d is missing", n+1, idx.Chunks)}
		case err != nil:
			return stored{}, fmt.Errorf("chunk %d of %d: %w", n+1, idx.Chunks, err)
		}
		chunks[n] = c
	}
	data, err := idx.join(chunks)
	if err != nil {
		return stored{}, &damaged{index: v, why: err.Error()}
	}
	return stored{data: data, idx: idx}, nil
}

// write replaces the record, whose index was old, with data: its chunks
// first, under a new id, then its index, then it deletes old's chunks,
// and the chunks that earlier writes left unnamed (see orphans.go). It
// writes nothing after ctx ended, but deletes what it must.
func (s *Store) write(ctx context.Context, data []byte, old index) error {
	idx, chunks := layout(data, s.chunkSize)
	if len(chunks) > maxChunks {
		return fmt.Errorf("the record, %d bytes, needs %d chunks of %d bytes (Options.ChunkSize); at most %d",
			len(data), len(chunks), s.chunkSize, maxChunks)
	}
	orphans := withSet(s.readOrphans(), chunkSet{idx.ID, len(chunks)})
	if len(chunks) > 0 {
		// Noted before they exist: a process killed while it writes them
		// leaves them to the next write. Without the note they would stay
		// for good, which is no reason to fail the write.
		s.writeOrphans(orphans)
	}
	wrote, err := s.writeRecord(ctx, idx, chunks)
	switch wrote {
	case indexWritten:
		orphans = s.deleteOrphans(withSet(orphans, chunkSet{old.ID, old.Chunks}), idx.ID)
	case indexNotWritten:
		orphans = s.deleteOrphans(orphans, old.ID)
	case indexUnknown:
		// Either index may be the record's: both sets stay, for the next
		// write, which will know.
		orphans = withSet(orphans, chunkSet{old.ID, old.Chunks})
	}
	s.writeOrphans(orphans)
	return err
}

// Whether a write replaced the index.
const (
	indexNotWritten = iota
	indexWritten
	indexUnknown // its reply was lost, and so was a read of it
)

// writeRecord writes chunks under idx.ID, then idx, and says whether it
// replaced the index.
func (s *Store) writeRecord(ctx context.Context, idx index, chunks []string) (wrote int, err error) {
	for n, c := range chunks {
		if err := ctx.Err(); err != nil {
			return indexNotWritten, err
		}
		if err := s.kr.Set(s.service, chunkUser(s.user, idx.ID, n), c); err != nil {
			return indexNotWritten, fmt.Errorf("writing chunk %d of %d: %w", n+1, len(chunks), err)
		}
	}
	if err := ctx.Err(); err != nil {
		return indexNotWritten, err
	}
	value := idx.encode()
	if err := s.kr.Set(s.service, s.user, value); err != nil {
		// The index may have been written all the same (its reply was
		// lost): then the new chunks are the record's.
		got, gerr := s.kr.Get(s.service, s.user)
		switch {
		case gerr == nil && got == value:
		case gerr == nil || errors.Is(gerr, keyring.ErrNotFound):
			return indexNotWritten, fmt.Errorf("writing the index: %w", err)
		default:
			return indexUnknown, fmt.Errorf("writing the index: %w", err)
		}
	}
	return indexWritten, nil
}

// remove deletes the first n chunks of id, if any, as far as it can, and
// reports whether none of them is left.
func (s *Store) remove(id string, n int) bool {
	if id == "" {
		return true
	}
	all := true
	for i := range n {
		all = gone(s.kr.Delete(s.service, chunkUser(s.user, id, i))) && all
	}
	return all
}

// drop deletes the damaged index, and the chunks it names, if the keyring
// still holds it, so that op, a Save or a Delete, can write anew.
func (s *Store) drop(ctx context.Context, op, damagedIndex string) error {
	return s.locked(ctx, op, func() error {
		v, err := s.kr.Get(s.service, s.user)
		switch {
		case errors.Is(err, keyring.ErrNotFound):
			return nil
		case err != nil:
			return err
		case v != damagedIndex:
			return nil // replaced meanwhile
		}
		if err := s.kr.Delete(s.service, s.user); err != nil && !errors.Is(err, keyring.ErrNotFound) {
			return err
		}
		if idx, _, err := parseIndex(v); err == nil && !s.remove(idx.ID, idx.Chunks) {
			s.writeOrphans(withSet(s.readOrphans(), chunkSet{idx.ID, idx.Chunks}))
		}
		return nil
	})
}
