package tokensource

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
)

// Transport is an [http.RoundTripper] that adds an access token from Source
// to each request, like [oauth2.Transport], and sends a request once more
// with a new token when a server rejects the first token with a 401. Most
// code uses [NewClient].
//
// A 401 rejects the token when it has no challenge, or a Bearer challenge
// whose error is "invalid_token" or absent (RFC 6750 §3). Transport then
// calls [Source.Invalidate], gets a token, and sends the request again: a
// request is sent at most twice, and requests rejected together cause one
// refresh. The 401 is returned instead, with its body, when the request's
// body cannot be replayed (it has no GetBody), no new token comes before
// the request's context ends, or the new token is the rejected one. Every
// other response, a 403 insufficient_scope included, is returned as it is.
// A 401's body that stalls is closed while it is being read, which the
// bodies of net/http allow; a Base of your own must allow it too.
//
// A request with an Authorization header of its own is sent untouched. On
// redirects, the token goes only to the first request's host and its
// subdomains, and never over plain http after https. Transport does not
// modify the request it is given, and is safe for concurrent use. A
// RefreshFunc must not send its request through a Transport of its own
// Source: it would wait for itself.
type Transport struct {
	// Source supplies the tokens. It must not be nil.
	Source *Source

	// Base sends the requests. nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip sends req with an access token from t.Source, and once more with
// a new token if the server rejects the first one with a 401; see Transport.
// It waits for a token no longer than req's context allows. The request body
// is closed on every path, errors included, as http.RoundTripper requires.
// A 401 it returns after waiting for a new token has its body of up to 4 KiB
// in memory; a body that stalled for a second reads as what arrived, then an
// error.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	n, own := headerValues(req.Header)
	if own || !tokenAllowed(req) {
		return t.base().RoundTrip(req)
	}
	tok, err := t.token(req.Context())
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := t.send(req, n, tok, req.Body)
	if err != nil || !rejectsToken(resp, tok) {
		t.confirm(tok, resp)
		return resp, err
	}
	resp, retried, err := t.retry(req, n, tok, resp)
	t.Source.unauthorized(req.Context(), retried, resp)
	return resp, err
}

// confirm tells the Source that tok worked, unless resp is a 401 or nil.
func (t *Transport) confirm(tok *oauth2.Token, resp *http.Response) {
	if resp != nil && resp.StatusCode != http.StatusUnauthorized {
		t.Source.Confirm(tok)
	}
}

// retry handles resp, a 401 that rejected the token tok: it sends req, whose
// header has n values, again with a new token if it can, and otherwise
// returns resp. The base closed req.Body already; the retry sends a copy
// from GetBody.
func (t *Transport) retry(req *http.Request, n int, rejected *oauth2.Token, resp *http.Response) (_ *http.Response, retried bool, _ error) {
	t.Source.InvalidateContext(req.Context(), rejected)
	if !replayable(req) {
		return resp, false, nil
	}
	// The refresh may need the 401's connection: the token endpoint can be
	// on the same host, through a pool capped per host. So free it before
	// waiting, keeping a short body in memory in case resp is returned; a
	// body that stalls costs its connection, not the request.
	release(resp)
	// The Source may serve the rejected token again: a refresh that
	// returns it after the backoff is taken as the server insisting.
	// Sending it again here would only be rejected again.
	tok, err := t.Source.TokenContext(req.Context())
	if err != nil || tok.AccessToken == rejected.AccessToken {
		return resp, false, nil
	}
	body, err := replayBody(req)
	if err != nil {
		return resp, false, nil
	}
	resp.Body.Close()
	resp, err = t.send(req, n, tok, body)
	t.confirm(tok, resp)
	return resp, true, err
}

// CloseIdleConnections closes the idle connections of t.Base, or of
// http.DefaultTransport when Base is nil, if it has a CloseIdleConnections
// method; http.Client.CloseIdleConnections calls it.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base().(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
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
// header for tok; n is the number of values in req's header. The header map
// is copied, so the caller's stays as it was; all its values share one
// allocation, with room for the new one.
func withToken(req *http.Request, n int, tok *oauth2.Token, body io.ReadCloser) *http.Request {
	r := new(http.Request)
	*r = *req
	r.Body = body

	vals := make([]string, n+1)
	h := make(http.Header, len(req.Header)+1)
	for k, vv := range req.Header {
		if isAuthorization(k) {
			continue // empty, or the request would not be here; set below
		}
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

// headerValues returns the number of values in h, and whether h has a
// non-empty Authorization value under any spelling of the name: net/http
// sends a key that is not in canonical form as it is, and header names are
// case-insensitive. One pass does both, on every request.
func headerValues(h http.Header) (n int, authorized bool) {
	for k, vv := range h {
		n += len(vv)
		if isAuthorization(k) {
			for _, v := range vv {
				authorized = authorized || v != ""
			}
		}
	}
	return n, authorized
}

func isAuthorization(key string) bool {
	return asciiEqualFold(key, "Authorization")
}

// rejectsToken reports whether resp says that the access token tok is
// invalid: a 401 with a challenge of tok's scheme (Bearer, or DPoP for a
// DPoP-bound token) whose error is "invalid_token", or that has
// no error code, which RFC 6750 §3.1 prescribes when the request's
// credentials were missing or unusable. A 401 with no challenge at all (no
// WWW-Authenticate, or one that holds none) is taken the same way: many
// APIs omit it, and the request's only credential was the token. A 401 whose
// challenges include none of tok's scheme concerns some other authentication,
// which a new token does not fix.
func rejectsToken(resp *http.Response, tok *oauth2.Token) bool {
	if resp.StatusCode != http.StatusUnauthorized {
		return false
	}
	scheme := "Bearer"
	if strings.EqualFold(tok.TokenType, "DPoP") {
		scheme = "DPoP"
	}
	cs := parseChallenges(resp.Header.Values("Www-Authenticate"))
	if len(cs) == 0 {
		return true
	}
	for _, c := range cs {
		if !strings.EqualFold(c.scheme, scheme) {
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

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// NewClient returns an *http.Client that sends its requests through a
// [Transport] with src: each request gets an access token, and a request the
// server rejects with a 401 for that token is sent once more with a new one.
//
// The client is made from the *http.Client in ctx's [oauth2.HTTPClient]
// value, or [http.DefaultClient] if there is none, as [oauth2.NewClient]
// does: it keeps that client's CheckRedirect, Jar and Timeout, and its
// Transport becomes the Base. Only that value of ctx is used, and a nil ctx
// counts as one without it; the client does not keep ctx. src must not be
// nil: every request of a client made with a nil src fails.
//
// Tokens are refreshed by src's RefreshFunc (for [FromConfig], through the
// client in FromConfig's ctx), never through the returned client; do not
// put the returned client in that ctx.
func NewClient(ctx context.Context, src *Source) *http.Client {
	base := contextClient(ctx)
	return &http.Client{
		Transport:     &Transport{Source: src, Base: base.Transport},
		CheckRedirect: base.CheckRedirect,
		Jar:           base.Jar,
		Timeout:       base.Timeout,
	}
}
