package tokensource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"golang.org/x/oauth2"
)

// FileStore is a [Store] and a [Locker] that keeps the token in a JSON file,
// for tokens that must outlive the process or be shared by the processes of
// one machine. It is safe for concurrent use; create it with [NewFileStore].
//
// The file holds the JSON object [MarshalToken] writes, which
// json.Marshal(*oauth2.Token) reads, and Load reads what either writes. A
// file that cannot be read back is corrupt: Load says so, naming the path,
// and leaves the file as it is for a Save to replace. A Save replaces the
// file atomically, with mode 0600. Lock uses a second file, the path plus
// ".lock".
type FileStore struct {
	path string
	opts FileStoreOptions

	// mu orders this FileStore's Saves and keeps Loads off the file while a
	// Save replaces it. On Unix the rename alone would do, but on Windows a
	// file cannot be renamed over while another handle has it open. Across
	// processes, a Source relies on Lock instead.
	mu sync.RWMutex
}

// NewFileStore returns a FileStore for the file at path. It touches nothing
// on disk: the file and its directory are created by the first Save, and
// the lock file by the first Lock. A relative path is relative to the
// working directory at the time of each call. NewFileStore panics if path is
// empty; the methods of a FileStore not made by NewFileStore fail.
func NewFileStore(path string) *FileStore {
	if path == "" {
		// A mistake in the program (an unset variable, say): an error at
		// each use would read as "no token stored" and send the user to log
		// in again, to a file that cannot be written.
		panic("tokensource: NewFileStore with an empty path")
	}
	return &FileStore{path: path}
}

// FileStoreOptions are the options of [NewFileStoreWith].
type FileStoreOptions struct {
	// Encrypter, when not nil, encrypts the file's record, bound to the
	// file's path (see [Records].Encrypter). A file written in plain text
	// still loads, and is encrypted at its next write, unless
	// RequireEncryption.
	Encrypter Encrypter

	// RequireEncryption makes a file in plain text corrupt: Load fails
	// with an error wrapping [ErrCorrupt].
	RequireEncryption bool
}

// NewFileStoreWith is NewFileStore with options; nil opts means none.
func NewFileStoreWith(path string, opts *FileStoreOptions) *FileStore {
	f := NewFileStore(path)
	if opts != nil {
		f.opts = *opts
	}
	return f
}

// errNoPath is the error of every method of a FileStore without a path.
var errNoPath = errors.New("tokensource: FileStore has no path; make it with NewFileStore")

// ready returns the error that stops a method before it touches the disk:
// errNoPath, or ctx's error, with the path.
func (f *FileStore) ready(ctx context.Context) error {
	if f.path == "" {
		return errNoPath
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("tokensource: token file %q: %w", f.path, err)
	}
	return nil
}

// Path returns the path the FileStore was created with.
func (f *FileStore) Path() string { return f.path }

// Where names the file in errors: token file "/x".
func (f *FileStore) Where() string { return fmt.Sprintf("token file %q", f.path) }

// records returns the shared semantics on this FileStore.
func (f *FileStore) records() Records {
	return Records{Backend: f, Where: f.Where(), Encrypter: f.opts.Encrypter, RequireEncryption: f.opts.RequireEncryption}
}

// Records returns the record semantics of the file, with its encryption:
// what a [Source] on the FileStore reads and writes through.
func (f *FileStore) Records() Records { return f.records() }

// Load reads the token from the file. It returns an error that wraps
// [ErrNotFound] when the file does not exist, [ErrLoggedOut] after Delete,
// and an error naming the path when the file is corrupt or cannot be read;
// no error holds a token value. It returns an error wrapping ctx's, without
// reading, if ctx is already done.
func (f *FileStore) Load(ctx context.Context) (*oauth2.Token, error) {
	return f.records().Load(ctx)
}

// Save writes tok to the file as a new grant (see [Records.Save]),
// replacing it atomically: after a crash the file holds either the old
// record or the new one. It creates the directory, with mode 0700, if it
// does not exist, and leaves the mode of an existing one alone. The file
// always ends up with mode 0600, even if the old one had wider permissions.
// Save refuses, with an error, a token with neither an access token nor a
// refresh token; a nil token logs out, as Delete does. On error, the old
// file is untouched and no temporary file is left behind, except when only
// the final flush of the directory failed: then the record is in place but
// might not survive a crash. Errors name the path and hold no token value.
// It returns an error wrapping ctx's, without writing, if ctx is already
// done.
func (f *FileStore) Save(ctx context.Context, tok *oauth2.Token) error {
	return f.records().Save(ctx, tok)
}

// Delete logs out: it replaces the file with a tombstone (see
// [Records.Delete]), after which no Source writes the grant back, and
// removes the temporary files of Saves that died, since they hold tokens.
func (f *FileStore) Delete(ctx context.Context) error {
	// Under the lock, a refresh running in another process saves its
	// token first rather than find the tombstone at its save.
	unlock, err := f.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	if err := f.records().Delete(ctx); err != nil {
		return err
	}
	removeDeadTemps(f.path)
	return nil
}

// Get returns the file's bytes; see [Backend].
func (f *FileStore) Get(ctx context.Context) ([]byte, error) {
	if err := f.ready(ctx); err != nil {
		return nil, err
	}
	f.mu.RLock()
	data, err := os.ReadFile(f.path)
	f.mu.RUnlock()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &StoreError{Op: "load", Where: f.Where(), Err: ErrNotFound}
	}
	if err != nil {
		return nil, &StoreError{Op: "read", Where: f.Where(), Err: err}
	}
	return data, nil
}

// Put replaces the file with data if it still holds prev; see [Backend].
// Writers of one path, in any process, take turns on a second lock file,
// the path plus ".put", apart from the one Lock takes (which a Source may
// hold around Put).
func (f *FileStore) Put(ctx context.Context, prev, data []byte) error {
	if err := f.ready(ctx); err != nil {
		return err
	}
	unlock, err := lockFile(ctx, f.path+".put")
	if err != nil {
		return err // it names the lock file
	}
	defer unlock()
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, err := os.ReadFile(f.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		cur = nil
	case err != nil:
		return &StoreError{Op: "save", Where: f.Where(), Err: err}
	}
	if (cur == nil) != (prev == nil) || !bytes.Equal(cur, prev) {
		return &StoreError{Op: "save", Where: f.Where(), Err: ErrConflict}
	}
	if err := writeFileAtomic(f.path, data); err != nil {
		return &StoreError{Op: "save", Where: f.Where(), Err: err}
	}
	return nil
}
