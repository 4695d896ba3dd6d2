package tokensource

import (
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A Save writes to a temporary file next to the token file and renames it
// (see writeFileAtomic). A writer killed before the rename leaves its file
// behind, holding a token. The next Save or Delete removes it once its
// writer is known to be dead; where that cannot be known (Windows, another
// host), once it is older than any live Save.

// tempPrefix begins the names of the temporary files of the token file
// base; the leading dot hides them from a plain ls.
func tempPrefix(base string) string { return "." + base + ".tmp" }

// tempPattern is the os.CreateTemp pattern of this process's temporary
// files of base. The name says who writes it, host tag and pid, and ends
// with CreateTemp's random digits, which keep the writers of one process
// apart: ".token.json.tmp-3f2a9c01-4242-1234567890".
func tempPattern(base string) string {
	return tempPrefix(base) + "-" + hostTag() + "-" + strconv.Itoa(os.Getpid()) + "-*"
}

// hostTag names where the pids of this process's temporary files mean
// something: the host and, on Linux, the pid namespace. A writer on another
// machine sharing the directory (NFS) or in another container is then
// never judged by a pid that is not its own. It is "" when the host name
// is unknown.
var hostTag = sync.OnceValue(func() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return ""
	}
	ns, _ := os.Readlink("/proc/self/ns/pid") // "" outside Linux
	h := fnv.New32a()
	h.Write([]byte(host + "\x00" + ns))
	return strconv.FormatUint(uint64(h.Sum32()), 16)
})

// tempWriter returns the host tag and pid in the name of a temporary file,
// given the part after tempPrefix. ok is false for names that carry none,
// such as those of older versions.
func tempWriter(rest string) (host string, pid int, ok bool) {
	parts := strings.Split(rest, "-")
	if len(parts) != 4 || parts[0] != "" {
		return "", 0, false
	}
	// A pid fits in 32 bits; kill(2) gives 0 and negative pids a meaning
	// of their own.
	n, err := strconv.ParseInt(parts[2], 10, 32)
	return parts[1], int(n), err == nil && n > 0
}

// staleTempAge is how old a temporary file whose writer cannot be checked
// (on Windows, or written on another host or by an older version) must be
// before it is removed: far longer than any live Save takes.
const staleTempAge = time.Minute

// deadTempAge is how old a temporary file must be to be removed whatever
// its pid says: that pid may now belong to another process.
const deadTempAge = 24 * time.Hour

// removeDeadTemps removes the temporary files of path's writers that died.
// Failures are ignored: the next Save tries again.
func removeDeadTemps(path string) {
	dir, prefix := filepath.Dir(path), tempPrefix(filepath.Base(path))
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if ok && e.Type().IsRegular() && writerDead(rest, e) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// writerDead reports whether the writer of the temporary file e, whose
// name ends in rest, is dead: its process is gone, or, where that cannot be
// known, the file is older than staleTempAge; or it is older than
// deadTempAge.
func writerDead(rest string, e fs.DirEntry) bool {
	info, err := e.Info()
	if err != nil {
		return false
	}
	age := time.Since(info.ModTime())
	host, pid, ok := tempWriter(rest)
	if ok && host != "" && host == hostTag() {
		if gone, known := processGone(pid); known {
			return gone || age > deadTempAge
		}
	}
	return age > staleTempAge
}
