package tokensource

import (
	"context"
	"sync"

	"golang.org/x/oauth2"
)

// MemoryStore is a Store that keeps the token in memory. It is safe for
// concurrent use. Use it for tokens that need not outlive the process, in
// tests, or as the model for a Store of your own.
type MemoryStore struct {
	mu  sync.Mutex
	tok *oauth2.Token
}

// NewMemoryStore returns an empty MemoryStore: Load returns [ErrNotFound] until
// the first Save.
func NewMemoryStore() *MemoryStore { return &MemoryStore{} }

// Load returns a copy of the stored token, or ErrNotFound.
func (m *MemoryStore) Load(ctx context.Context) (*oauth2.Token, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.tok == nil {
		return nil, ErrNotFound
	}
	return cloneToken(m.tok), nil
}

// Save stores a copy of tok. A nil tok empties the store, as Delete does.
func (m *MemoryStore) Save(ctx context.Context, tok *oauth2.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tok = cloneToken(tok)
	return nil
}

// Delete empties the store, a log-out: Load returns [ErrNotFound] until the
// next Save. A MemoryStore has no lock, so a refresh already running in a
// Source may save its token after Delete. A Source with a valid token
// cached keeps serving it until its next load (see [FileStore.Delete]).
func (m *MemoryStore) Delete(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tok = nil
	return nil
}
