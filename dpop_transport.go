package tokensource

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"golang.org/x/oauth2"
)

// send sends req, whose header has n values, with tok and body: a DPoP
// token with a proof of its own (sendDPoP), any other as it is.
func (t *Transport) send(req *http.Request, n int, tok *oauth2.Token, body io.ReadCloser) (*http.Response, error) {
	if t.Source.dpop == nil || !strings.EqualFold(tok.TokenType, "DPoP") {
		return t.base().RoundTrip(withToken(req, n, tok, body))
	}
	return t.sendDPoP(req, n, tok, body)
}

var errNoDPoPKey = errors.New("tokensource: a DPoP-bound token, and no DPoP key to prove it with")

// sendDPoP sends req with the DPoP-bound tok, "Authorization: DPoP", and a
// proof for this request, with the token's hash (RFC 9449 §7). It keeps the
// nonce of every response that brings one, for the next proofs to that
// origin. A 401 asking for a nonce (use_dpop_nonce) is no rejection of the
// token: the request is sent once more, with the nonce and a new proof,
// when its body can be replayed.
func (t *Transport) sendDPoP(req *http.Request, n int, tok *oauth2.Token, body io.ReadCloser) (*http.Response, error) {
	d := t.Source.dpop
	key := d.current()
	if key == nil {
		if body != nil {
			body.Close()
		}
		return nil, errNoDPoPKey
	}
	nonce := d.nonce(req.URL)
	for attempt := 0; ; attempt++ {
		proof, err := key.proof(req.Method, req.URL.String(), nonce, tok.AccessToken, t.Source.now())
		if err != nil {
			if body != nil {
				body.Close()
			}
			return nil, err
		}
		r := withToken(req, n, tok, body)
		r.Header["Dpop"] = []string{proof}
		resp, err := t.base().RoundTrip(r)
		if err != nil {
			return nil, err
		}
		d.noteNonce(req.URL, resp.Header)
		// The retry takes the nonce of this challenge: the one kept for
		// the origin may be an older one that a slower response brought.
		nonce = headerValue(resp.Header, "Dpop-Nonce")
		if attempt > 0 || nonce == "" || !asksForNonce(resp) || !replayable(req) {
			return resp, nil
		}
		if body, err = replayBody(req); err != nil {
			return resp, nil
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		resp.Body.Close()
	}
}

// asksForNonce reports whether resp is a 401 with a DPoP challenge whose
// error is use_dpop_nonce.
func asksForNonce(resp *http.Response) bool {
	if resp.StatusCode != http.StatusUnauthorized {
		return false
	}
	for _, c := range parseChallenges(resp.Header.Values("Www-Authenticate")) {
		if strings.EqualFold(c.scheme, "DPoP") && c.param("error") == "use_dpop_nonce" {
			return true
		}
	}
	return false
}
