//go:build unix

package tokensource

import "syscall"

// processGone reports whether no process has the given pid: kill(2) with
// signal 0 checks without sending anything. A process of another user
// (EPERM) exists.
func processGone(pid int) (gone, known bool) {
	return syscall.Kill(pid, 0) == syscall.ESRCH, true
}
