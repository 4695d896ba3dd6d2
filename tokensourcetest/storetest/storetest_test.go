package storetest_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"

	"github.com/oauthkit/tokensource"
	"github.com/oauthkit/tokensource/tokensourcetest/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.TestBackend(t, func(t *testing.T) tokensource.Backend {
		return tokensource.NewMemoryStore()
	})
}

func TestFileStore(t *testing.T) {
	storetest.TestBackend(t, func(t *testing.T) tokensource.Backend {
		return tokensource.NewFileStore(filepath.Join(t.TempDir(), "token.json"))
	})
}

// TestFileStoreLock runs TestLeaser on leases made of FileStore.Lock,
// which are never lost: the suite's checks of exclusion, release and
// bounded waits hold for any lock.
func TestFileStoreLock(t *testing.T) {
	dirs := map[string]string{} // t.Name() → its folder, one lock per test
	var mu sync.Mutex
	storetest.TestLeaser(t, func(t *testing.T) tokensource.Leaser {
		mu.Lock()
		defer mu.Unlock()
		dir, ok := dirs[t.Name()]
		if !ok {
			dir = t.TempDir()
			dirs[t.Name()] = dir
		}
		return fileLeaser{tokensource.NewFileStore(filepath.Join(dir, "token.json"))}
	})
}

type fileLeaser struct{ f *tokensource.FileStore }

func (l fileLeaser) Lease(ctx context.Context) (tokensource.Lease, error) {
	unlock, err := l.f.Lock(ctx)
	if err != nil {
		return nil, err
	}
	return &fileLease{unlock: unlock, lost: make(chan struct{})}, nil
}

type fileLease struct {
	unlock func()
	lost   chan struct{}
}

func (l *fileLease) Lost() <-chan struct{} { return l.lost }
func (l *fileLease) Release()              { l.unlock() }
