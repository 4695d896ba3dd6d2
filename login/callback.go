package login

import (
	"crypto/subtle"
	"fmt"
	"html"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
)

// DefaultSuccessHTML is the page the browser shows when it comes back with
// a code, unless BrowserOptions.SuccessHTML says otherwise.
const DefaultSuccessHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>Signed in</title></head>
<body><h1>Signed in</h1><p>You can close this tab and return to the application.</p></body></html>
`

// A callback is the handler of the loopback redirect. It takes the first
// response that carries the login's state, and hands it over once.
type callback struct {
	path    string // of the redirect URI
	state   string
	success string // HTML
	done    atomic.Bool
	result  chan callbackResult // capacity 1: the one taker never blocks
}

// callbackResult is what the browser brought back: a code, or an error.
type callbackResult struct {
	code string
	err  error
}

func newCallback(path, state, success string) *callback {
	if path == "" {
		path = "/"
	}
	return &callback{path: path, state: state, success: success, result: make(chan callbackResult, 1)}
}

func (c *callback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != c.path {
		http.NotFound(w, r)
		return
	}
	q := r.URL.Query()
	// A response without this login's state is refused, and the login goes
	// on waiting: it may be a stale tab of an earlier login, or a page
	// planting its own code (CSRF, RFC 6749 §10.12). Ending the login for it
	// would let any local page cancel the user's sign-in.
	if subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(c.state)) != 1 {
		page(w, http.StatusBadRequest, "Not this sign-in",
			"This response does not belong to the sign-in in progress. Finish that one in the tab it opened.")
		return
	}
	if !c.done.CompareAndSwap(false, true) {
		page(w, http.StatusConflict, "Already done", "This sign-in has already been handled. You can close this tab.")
		return
	}
	res := callbackResult{code: q.Get("code")}
	switch {
	case q.Get("error") != "":
		res = callbackResult{err: &authorizationError{code: q.Get("error"), desc: q.Get("error_description")}}
		page(w, http.StatusOK, "Sign-in failed", res.err.Error())
	case res.code == "":
		res.err = fmt.Errorf("login: the authorization server redirected back with neither a code nor an error")
		page(w, http.StatusBadRequest, "Sign-in failed", "The response carried no authorization code.")
	default:
		send(w, http.StatusOK, c.success)
	}
	// The whole page is on the wire before the login returns and closes
	// the server: a browser left with half a response waits for the rest.
	http.NewResponseController(w).Flush()
	c.result <- res
}

// page writes a short HTML page.
func page(w http.ResponseWriter, status int, title, text string) {
	send(w, status, fmt.Sprintf("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>%s</title></head>\n<body><h1>%[1]s</h1><p>%s</p></body></html>\n",
		html.EscapeString(title), html.EscapeString(text)))
}

// send writes doc with its length, so that a flush ends the response: a
// chunked one would end only when the handler returns, which may be after
// the server is closed.
func send(w http.ResponseWriter, status int, doc string) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(doc)))
	h.Set("Cache-Control", "no-store")
	h.Set("Connection", "close")
	w.WriteHeader(status)
	io.WriteString(w, doc)
}

// authorizationError is an error response of the authorization endpoint
// (RFC 6749 §4.1.2.1), such as access_denied when the user refused.
type authorizationError struct {
	code, desc string
}

func (e *authorizationError) Error() string {
	msg := "login: the authorization server refused: " + e.code
	if e.desc != "" {
		msg += ": " + e.desc
	}
	return msg
}
