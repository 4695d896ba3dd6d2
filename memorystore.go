package tokensource

import (
	"bytes"
	"context"
	"sync"

	"golang.org/x/oauth2"
)

// MemoryStore is a Store that keeps the record in memory. It is safe for
// concurrent use. Use it for tokens that need not outlive the process, in
// tests, or as the model for a Store of your own: it is a [Backend], and
// [Records] gives it Load, Save and Delete.
type MemoryStore struct {
	mu   sync.Mutex
	data []byte // the record, or nil
}

// NewMemoryStore returns an empty MemoryStore: Load returns [ErrNotFound] until
// the first Save.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

func (m *MemoryStore) records() Records { return Records{Backend: m, Where: m.Where()} }

// Where names the store in errors: "memory store".
func (m *MemoryStore) Where() string { return "memory store" }

// Load returns a copy of the stored token; see [Records.Load].
func (m *MemoryStore) Load(ctx context.Context) (*oauth2.Token, error) {
	return m.records().Load(ctx)
}

// Save stores a copy of tok as a new grant; see [Records.Save]. A nil tok
// logs out, as Delete does.
func (m *MemoryStore) Save(ctx context.Context, tok *oauth2.Token) error {
	if tok == nil {
		return m.Delete(ctx)
	}
	return m.records().Save(ctx, tok)
}

// Delete logs out: Load returns [ErrLoggedOut], which wraps [ErrNotFound],
// until the next Save, and Sources on the store stop serving their tokens
// at their next load (see [Records.Delete]).
func (m *MemoryStore) Delete(ctx context.Context) error {
	return m.records().Delete(ctx)
}

// Get returns the stored record's bytes; see [Backend].
func (m *MemoryStore) Get(ctx context.Context) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		return nil, &StoreError{Op: "load", Where: m.Where(), Err: ErrNotFound}
	}
	return m.data, nil
}

// Put stores data if the store holds prev; see [Backend].
func (m *MemoryStore) Put(ctx context.Context, prev, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if (m.data == nil) != (prev == nil) || !bytes.Equal(m.data, prev) {
		return &StoreError{Op: "save", Where: m.Where(), Err: ErrConflict}
	}
	m.data = bytes.Clone(data)
	return nil
}

// Clear empties the store, as if it had lost its data (a flushed cache, a
// restored backup): unlike Delete, it leaves no tombstone, so a Source that
// holds the grant writes it back. For tests of that recovery.
func (m *MemoryStore) Clear() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data = nil
}
