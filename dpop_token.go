package tokensource

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// dpopTransport adds a DPoP proof to each request it sends: the token
// requests of a Source with Options.DPoP (its refreshes, and its logins
// through the ctx's oauth2.HTTPClient). A 400 use_dpop_nonce whose
// response brings a nonce is sent once more, with the nonce and a new
// proof: the server refused before it looked at the grant, so the retry
// spends nothing (RFC 9449 §8).
type dpopTransport struct {
	base http.RoundTripper
	d    *dpopState
	now  func() time.Time
}

func (t *dpopTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	key, err := t.d.ensure()
	if err != nil {
		closeBody(req)
		return nil, err
	}
	body := req.Body
	nonce := t.d.nonce(req.URL)
	for attempt := 0; ; attempt++ {
		proof, err := key.proof(req.Method, req.URL.String(), nonce, "", t.now())
		if err != nil {
			closeBody(req)
			return nil, err
		}
		r := req.Clone(req.Context())
		r.Body = body
		r.Header.Set("DPoP", proof)
		resp, err := t.base.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		t.d.noteNonce(req.URL, resp.Header)
		nonce = headerValue(resp.Header, "Dpop-Nonce") // this challenge's, for the retry
		if attempt > 0 || nonce == "" || resp.StatusCode != http.StatusBadRequest || req.GetBody == nil || !useNonce(resp) {
			return resp, nil
		}
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
		resp.Body.Close()
	}
}

// useNonce reports whether resp, a 400 of a token endpoint, is the error
// use_dpop_nonce. It reads the body, and puts it back for the caller.
func useNonce(resp *http.Response) bool {
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(data))
	if err != nil {
		return false
	}
	var e struct {
		Error string `json:"error"`
	}
	return json.Unmarshal(data, &e) == nil && e.Error == "use_dpop_nonce"
}

// dpopClientKey is the ctx key of the token requests' client, with DPoP.
type dpopClientKey struct{}

// withDPoP returns ctx for a token request of s: with DPoP on, its client
// (base, or http.DefaultClient) adds proofs, as the ctx's
// oauth2.HTTPClient, for a RefreshFunc or a LoginFunc built on
// golang.org/x/oauth2, and for FromConfig's refreshes.
func (s *Source) withDPoP(ctx context.Context, base *http.Client) context.Context {
	if s.dpop == nil {
		return ctx
	}
	if base == nil {
		base = contextClient(ctx)
	}
	c := *base
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	c.Transport = &dpopTransport{base: rt, d: s.dpop, now: s.now}
	ctx = context.WithValue(ctx, dpopClientKey{}, &c)
	return context.WithValue(ctx, oauth2.HTTPClient, &c)
}
