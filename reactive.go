package tokensource

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
)

// Transport is an http.RoundTripper that adds an access token from Source to
// each request's Authorization header, like oauth2.Transport, and recovers
// when a server rejects a token before its expiry (it was revoked, rotated
// away by another device, or the server's clock runs ahead).
//
// When a response is a 401 with a Bearer challenge whose error is
// "invalid_token" or that has no error code (RFC 6750 §3), Transport calls
// Source.Invalidate with the token the request carried, gets a token, and
// sends the request once more; so does a 401 without any WWW-Authenticate
// header, which many APIs send. A 401 whose challenges include no Bearer one,
// a 403 (insufficient_scope), a 400 and every other status are returned as
// they are. Because Invalidate does nothing once a newer token is current,
// any number of requests rejected together cause one refresh.
//
// The 401 itself is returned, its body unread, when the request cannot be
// sent again: it has a body other than http.NoBody and no GetBody to make
// a copy (http.NewRequest sets GetBody for a *bytes.Buffer, *bytes.Reader or
// *strings.Reader; an io.Pipe, say, gets none); getting a token fails,
// req's context ending included; GetBody fails; or the token obtained is
// the one just rejected. The token is invalidated all the same, so the next
// request gets a fresh one. Once the request is sent again, the 401 is
// discarded, and whatever the second attempt gives, a response or an error,
// is returned: a request is never sent more than twice.
//
// A request that already has a non-empty Authorization header is sent as it
// is, and its 401s are left to the caller. So is
// a redirect that left the first request's host: the token goes only to that
// host and its subdomains, the rule net/http applies to an Authorization
// header set by the caller.
//
// Transport never modifies the request it is given. It is safe for
// concurrent use.
//
// Most code uses NewClient. Do not send the refresh itself through a
// Transport of the same Source: it would wait for itself until
// Options.RefreshTimeout.
type Transport struct {
	// Source supplies the tokens. It must not be nil.
	Source *Source

	// Base sends the requests. nil means http.DefaultTransport.
	Base http.RoundTripper
}

// maxDrain bounds how much of a rejected response's body is read so that
// its connection can carry the retry; a longer body costs a new connection
// rather than the time to read it.
const maxDrain = 4 << 10

// RoundTrip sends req with an access token from t.Source, and once more with
// a new token if the server rejects the first one with a 401; see Transport.
// It waits for a token no longer than req's context allows. The request body
// is closed on every path, errors included, as http.RoundTripper requires.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Header.Get("Authorization") != "" || !tokenAllowed(req) {
		return t.base().RoundTrip(req)
	}
	tok, err := t.token(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.base().RoundTrip(withToken(req, tok, req.Body))
	if err != nil || !rejectsToken(resp) {
		t.confirm(tok, resp)
		return resp, err
	}
	return t.retry(req, tok, resp)
}

// confirm tells the Source that tok worked, unless resp is a 401 or nil.
func (t *Transport) confirm(tok *oauth2.Token, resp *http.Response) {
	if resp != nil && resp.StatusCode != http.StatusUnauthorized {
		t.Source.Confirm(tok)
	}
}

// retry handles resp, a 401 that rejected the token tok: it sends req again
// with a new token if it can, and otherwise returns resp. The base closed
// req.Body already; the retry sends a copy from GetBody.
func (t *Transport) retry(req *http.Request, rejected *oauth2.Token, resp *http.Response) (*http.Response, error) {
	t.Source.Invalidate(rejected)
	if !replayable(req) {
		return resp, nil
	}
	tok, err := t.Source.TokenContext(req.Context())
	if err != nil || tok.AccessToken == rejected.AccessToken {
		return resp, nil
	}
	body, err := replayBody(req)
	if err != nil {
		return resp, nil
	}
	// Only now is the 401 known to be discarded; until here the caller
	// might still get it, so its body must stay unread.
	drain(resp)
	resp, err = t.base().RoundTrip(withToken(req, tok, body))
	t.confirm(tok, resp)
	return resp, err
}

func (t *Transport) token(ctx context.Context) (*oauth2.Token, error) {
	if t.Source == nil {
		return nil, errors.New("tokensource: Transport's Source is nil")
	}
	return t.Source.TokenContext(ctx)
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

// withToken returns a shallow copy of req with body and an Authorization
// header for tok. The header map is copied, so the caller's stays as it was;
// all its values share one allocation, with room for the new one.
func withToken(req *http.Request, tok *oauth2.Token, body io.ReadCloser) *http.Request {
	r := new(http.Request)
	*r = *req
	r.Body = body

	n := 1
	for _, vv := range req.Header {
		n += len(vv)
	}
	vals := make([]string, n)
	h := make(http.Header, len(req.Header)+1)
	for k, vv := range req.Header {
		if vv == nil {
			h[k] = nil // a nil value means "send none" to net/http; keep it
			continue
		}
		m := copy(vals, vv)
		h[k] = vals[:m:m]
		vals = vals[m:]
	}
	vals[0] = tok.Type() + " " + tok.AccessToken
	h["Authorization"] = vals[:1:1]
	r.Header = h
	return r
}

// rejectsToken reports whether resp says that the access token is invalid:
// a 401 with a Bearer challenge whose error is "invalid_token", or that has
// no error code, which RFC 6750 §3.1 prescribes when the request's
// credentials were missing or unusable. A 401 with no challenge at all is
// taken the same way: many APIs omit WWW-Authenticate, and the request's
// only credential was the token. A 401 whose challenges include no Bearer
// one concerns some other authentication, which a new token does not fix.
func rejectsToken(resp *http.Response) bool {
	if resp.StatusCode != http.StatusUnauthorized {
		return false
	}
	values := resp.Header.Values("Www-Authenticate")
	if len(values) == 0 {
		return true
	}
	for _, c := range parseChallenges(values) {
		if !strings.EqualFold(c.scheme, "Bearer") {
			continue
		}
		if code := c.param("error"); code == "" || code == "invalid_token" {
			return true
		}
	}
	return false
}

// replayable reports whether req's body can be sent a second time.
func replayable(req *http.Request) bool {
	return req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
}

// replayBody returns a new copy of req's body, which must be replayable.
func replayBody(req *http.Request) (io.ReadCloser, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req.Body, nil
	}
	return req.GetBody()
}

// drain reads what is left of a short response body and closes it, so that
// its connection goes back to the pool for the retry.
func drain(resp *http.Response) {
	if resp.Body == nil {
		return
	}
	if resp.ContentLength <= maxDrain { // -1, unknown, included
		io.CopyN(io.Discard, resp.Body, maxDrain)
	}
	resp.Body.Close()
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// NewClient returns an *http.Client that sends its requests through a
// Transport with src: each request gets an access token, and a request the
// server answers with a 401 for that token (see Transport) is sent once more
// with a new one.
//
// The client is made from the *http.Client in ctx's oauth2.HTTPClient value,
// or http.DefaultClient if there is none, as oauth2.NewClient does: it keeps
// that client's CheckRedirect, Jar and Timeout, and its Transport becomes the
// Base. Only that value of ctx is used, and a nil ctx counts as one without
// it; the client does not keep ctx. src must not be nil: every request of a
// client made with a nil src fails.
//
// oauth2.NewClient(ctx, src) works with a *Source too, as with any
// oauth2.TokenSource, and is enough when tokens end only by expiring. But it
// puts its own cache (oauth2.ReuseTokenSource) in front of src, and does not
// react to a 401: a token a server rejects before its expiry stays in that
// cache, out of reach of Source.Invalidate, and is sent until it expires. Use
// NewClient when tokens can be revoked, rotated by another device or process,
// or judged expired by a server whose clock runs ahead.
//
// Tokens are refreshed by src's RefreshFunc (for FromConfig, through the
// client in FromConfig's ctx), never through the returned client; do not put
// the returned client in that ctx.
func NewClient(ctx context.Context, src *Source) *http.Client {
	base := contextClient(ctx)
	return &http.Client{
		Transport:     &Transport{Source: src, Base: base.Transport},
		CheckRedirect: base.CheckRedirect,
		Jar:           base.Jar,
		Timeout:       base.Timeout,
	}
}
