//go:build !unix

package tokensource

// processGone cannot tell here: a Windows process handle may be refused
// to a live process, so a refusal proves nothing.
func processGone(pid int) (gone, known bool) {
	return false, false
}
