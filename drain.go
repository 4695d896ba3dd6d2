package tokensource

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"time"
)

// maxDrain bounds how much of a 401's body is read into memory to free its
// connection; a longer body stays on its connection, and costs it if the
// request is sent again.
const maxDrain = 4 << 10

// drainTimeout bounds the time spent reading a 401's body. A body that takes
// longer is closed: that costs its connection, not the request.
const drainTimeout = time.Second

// errStalled is what reading a 401's body gives, past what arrived, when the
// body took longer than drainTimeout.
var errStalled = errors.New("tokensource: the 401 response's body stalled and was closed")

// release reads resp's body, if it is short, into memory and closes the
// original, so that its connection goes back to the pool; resp's body then
// reads the same from memory. A body longer than maxDrain is left on its
// connection, what was read of it put back in front. A body that stalls is
// closed after drainTimeout; reading resp's body then gives what arrived,
// then errStalled. So does a body that failed, with its error.
func release(resp *http.Response) {
	body := resp.Body
	if body == nil {
		// A RoundTripper should not return one, but some do (Go issue
		// 38095); the 401 may still be returned, and its body closed.
		resp.Body = http.NoBody
		return
	}
	if body == http.NoBody || resp.ContentLength > maxDrain {
		return
	}
	timer := time.AfterFunc(drainTimeout, func() { body.Close() })
	buf, err := io.ReadAll(io.LimitReader(body, maxDrain+1))
	fired := !timer.Stop()
	read := bytes.NewReader(buf)
	switch {
	case err == nil && len(buf) <= maxDrain:
		body.Close()
		resp.Body = io.NopCloser(read)
	case err == nil && !fired:
		resp.Body = readCloser{io.MultiReader(read, body), body}
	default:
		if fired {
			err = errStalled
		}
		body.Close()
		resp.Body = io.NopCloser(io.MultiReader(read, errReader{err}))
	}
}

type readCloser struct {
	io.Reader
	io.Closer
}

// errReader is a reader that fails with err, or ends if err is nil.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) {
	if r.err == nil {
		return 0, io.EOF
	}
	return 0, r.err
}
