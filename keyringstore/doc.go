// Package keyringstore keeps a tokensource grant in the keyring of the
// OS, through github.com/zalando/go-keyring: the Keychain on macOS, the
// Credential Manager on Windows, a Secret Service (GNOME Keyring,
// KWallet, KeePassXC) on Linux and the BSDs. It is for the programs of
// one user on one machine (command-line tools, desktop apps) that would
// otherwise keep the token in a file.
//
// A [Store] is a tokensource.Store, and a tokensource.Backend: it keeps
// the grant's record (see tokensource.Record), and replaces it only by
// compare-and-swap. It is also a tokensource.Locker: the Sources of the
// user's processes refresh one at a time.
//
//	store := keyringstore.New("my-app", accountID, nil)
//	src := tokensource.FromConfig(ctx, conf, store, nil)
//
// # Items
//
// A Store of the service "my-app" and the user "alice" keeps its record
// in the keyring items of the service "my-app": the item of the user
// "alice" holds an index, a JSON object whose first member is
// "keyringstore", the version of the layout (1). A record small enough
// (at most [Options].ChunkSize bytes with its index around it) is in the
// index itself, in base64:
//
//	{"keyringstore":1,"record":"<base64 of the record>"}
//
// A larger one is in chunks, items of the users "alice.<id>.0",
// "alice.<id>.1", …, each holding the base64 of a piece of the record,
// at most ChunkSize bytes of it; the index names them and checks them:
//
//	{"keyringstore":1,"id":"<16 hex digits>","chunks":3,"size":5234,"sha256":"<hex>"}
//
// The record is the one every store of tokensource writes
// (tokensource.EncodeRecord), sealed by [Options].Encrypter if set. An
// item of the user that holds anything else (the JSON of a token that a
// program stored there itself, say) is read as the record, as it is: a
// token stored so loads, as a record of generation 0, and the next Save
// replaces it with an index.
//
// The Credential Manager keeps at most 2,560 bytes in an item, and
// go-keyring passes the Keychain at most 4,096 bytes of command for one;
// the default ChunkSize is 2,000 on both, and 16 KiB elsewhere. A token's
// record is a few hundred bytes to a few kilobytes: in chunks on Windows
// or macOS when it carries a large ID token or is sealed, and in its
// index otherwise.
//
// # Writes, and a write that fails
//
// Put writes the chunks of a new record under a new id first, then the
// index that names them, which replaces the old index in one write of
// one item, and then deletes the chunks of the old record. A Put that
// fails, or a process that dies during one, leaves the previous record
// as it was, readable: its index and its chunks are untouched until the
// new index is in place. The chunks of a failed Put are deleted, unless
// it is unknown whether its index was written. Chunks that no index
// names still hold a token, and the keyring cannot list its items: so a
// Put notes the chunks it is about to write, and those it could not
// delete, in a file beside its lock (LockPath plus ".put.chunks", which
// holds ids and counts, nothing of a record), and the next Put deletes
// them, those of a process that died during a Put included.
//
// A read takes the index, then the chunks it names, and checks them
// against its size and SHA-256. A writer may replace the index between
// the two and delete the chunks the read wanted: the read then starts
// again on the new index, a few times at most. An index whose chunks are
// missing or do not match it, whatever the reads, was damaged behind the
// Store's back (a person or a program deleted an item): Load reports a
// corrupt record, an error wrapping tokensource.ErrCorrupt, and leaves
// it; Save and Delete replace it, as they replace a corrupt record in any
// store.
//
// # Compare-and-swap, and the lock
//
// The keyring has no compare-and-swap. Put takes a file lock, the
// [Options].LockPath plus ".put", reads the record, compares it with the
// one its caller read, and writes only if they are the same byte for
// byte, and otherwise fails with an error wrapping
// tokensource.ErrConflict: every Put of the service and user, in any
// process of the user that names the same lock file, takes turns. Load,
// Save and Delete are those of tokensource.Records on the Store: Save
// writes a new grant over whatever is stored, and Delete writes a
// tombstone (and deletes the token's chunks), after which Load fails
// with an error wrapping tokensource.ErrLoggedOut and
// tokensource.ErrNotFound.
//
// Lock takes another file lock, LockPath itself, as
// tokensource.FileStore does beside its file: the OS releases it when the
// process dies. The default LockPath is in the user's cache directory,
// named by a hash of the service and user, so that the processes of the
// user find the same file.
//
// # Bounded calls
//
// A keyring may not answer: a Secret Service that waits for its user to
// unlock the keyring, or that hangs; a Keychain that waits for a
// password. Every call of a Store returns by its ctx's deadline (a
// millisecond or so later) with an error wrapping ctx.Err(): a keyring
// call cannot be interrupted, so the calls run in a goroutine, and the
// one under way when ctx ends goes on in the background, to its end;
// the goroutine makes no further call, but to delete the chunks that its
// Put wrote, or that the record it replaced named. A Put abandoned so
// holds its lock until then, and writes nothing more; it is unknown
// whether it wrote the record: read it again.
//
// # No keyring: fail closed, fall back deliberately
//
// Where there is no keyring (no D-Bus session bus, no Secret Service on
// it, a keyring that stays locked, a Windows service with no logon
// session, an unsupported system), every call that reaches the keyring
// fails with an error wrapping [ErrNoKeyring], and nothing is written anywhere else: a Store
// never falls back to a file on its own, let alone one in plain text. A
// program that must run there too chooses its fallback, on
// errors.Is(err, ErrNoKeyring): a tokensource.FileStore whose record is
// encrypted, with a key kept elsewhere.
//
//	store := keyringstore.New("my-app", accountID, nil)
//	var s tokensource.Store = store
//	if _, err := store.Load(ctx); errors.Is(err, keyringstore.ErrNoKeyring) {
//		enc, err := tokensource.NewAESGCM(key) // key: 32 bytes from a secret the program has
//		if err != nil { ... }
//		s = tokensource.NewFileStoreWith(path, &tokensource.FileStoreOptions{Encrypter: enc, RequireEncryption: true})
//	}
//	src := tokensource.FromConfig(ctx, conf, s, nil)
//
// # Encryption
//
// A keyring encrypts what it keeps at rest, with the user's login; any
// program the user runs can read it, unless the OS asks first (the
// Keychain may). [Options].Encrypter seals the record besides, bound to
// the service and user: a record copied to another user does not load.
//
// # Errors
//
// Errors are [*tokensource.StoreError]s that name the service and user
// (`keyring service "my-app" user "alice"`), or the lock file, and never
// quote a stored value. On Linux, the errors of go-keyring that mean no
// keyring are recognized by their D-Bus names, and one (a collection it
// could not unlock) by its message.
package keyringstore
