package tokensource

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"golang.org/x/oauth2"
)

// FromConfig returns a Source that refreshes with the refresh token grant
// at conf's token endpoint, through the *http.Client in ctx's
// [oauth2.HTTPClient] value ([http.DefaultClient] when there is none), like
// [oauth2.Config.TokenSource]. Only ctx's values are used: the refresh runs
// under its own context, bounded by [Options.RefreshTimeout].
//
// The first token comes from the store: log the user in with conf (Exchange,
// PasswordCredentialsToken, a device flow) and Save the token before the
// first call, or let the calls fail with [ErrReauthRequired] until someone
// does. A response without a refresh token keeps the old one (RFC 6749 §6).
//
// Each refresh sends one token request. With conf.Endpoint.AuthStyle left at
// oauth2.AuthStyleAutoDetect, it sends the client credentials in a Basic
// header first and, only if the server responds that it rejected the client
// (401, or invalid_client), once more in the form; the style that worked is
// kept for the life of the Source. Unlike x/oauth2, it never sends a refresh
// token again after a request whose response was lost. Set AuthStyle
// explicitly to make every refresh exactly one request.
//
// store must not be nil: a login must be saved where the Source loads it.
func FromConfig(ctx context.Context, conf *oauth2.Config, store Store, opts *Options) *Source {
	if store == nil {
		panic("tokensource: FromConfig with a nil Store: no login could ever be saved where the Source loads it")
	}
	e := &endpoint{conf: conf, client: contextClient(ctx)}
	s := New(e.refresh, store, opts)
	e.log = s.opts.log // before any refresh: New does no I/O
	s.client, s.auth = e.client, clientAuth{id: conf.ClientID, secret: conf.ClientSecret, style: conf.Endpoint.AuthStyle}
	return s
}

// contextClient returns the *http.Client in ctx's oauth2.HTTPClient value,
// or http.DefaultClient when there is none, as x/oauth2 does. A nil ctx
// counts as one without it.
func contextClient(ctx context.Context) *http.Client {
	if ctx != nil {
		if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
			return c
		}
	}
	return http.DefaultClient
}

// endpoint refreshes tokens at an oauth2.Config's token endpoint.
type endpoint struct {
	conf     *oauth2.Config
	client   *http.Client
	log      *slog.Logger // the Source's, for what a token response lacks
	detected atomic.Int32 // the oauth2.AuthStyle that worked, for AuthStyleAutoDetect
}

func (e *endpoint) refresh(ctx context.Context, current *oauth2.Token) (*oauth2.Token, error) {
	if current == nil || current.RefreshToken == "" {
		return nil, fmt.Errorf("%w: no refresh token", ErrReauthRequired)
	}
	style := e.conf.Endpoint.AuthStyle
	if style != oauth2.AuthStyleAutoDetect {
		return e.post(ctx, current, style)
	}
	if d := oauth2.AuthStyle(e.detected.Load()); d != oauth2.AuthStyleAutoDetect {
		return e.post(ctx, current, d)
	}
	style = oauth2.AuthStyleInHeader
	tok, err := e.post(ctx, current, style)
	// Only a refused client is tried again: the server refused it before it
	// looked at the refresh token. After any other failure (a response
	// lost, say), sending the refresh token again would be a replay, and a
	// server that detects reuse revokes the whole token family.
	if clientRejected(err) {
		style = oauth2.AuthStyleInParams
		tok, err = e.post(ctx, current, style)
	}
	if err == nil {
		e.detected.Store(int32(style))
	}
	return tok, err
}

// clientRejected reports whether err is the token endpoint refusing the
// client's authentication.
func clientRejected(err error) bool {
	re, ok := err.(*EndpointError)
	return ok && (re.Response.StatusCode == http.StatusUnauthorized || re.ErrorCode == "invalid_client")
}

// post sends one refresh request for current and parses the response, with
// current's tokens and the client secret (also as the Basic credential that
// carries it) redacted from an error.
func (e *endpoint) post(ctx context.Context, current *oauth2.Token, style oauth2.AuthStyle) (*oauth2.Token, error) {
	id, secret := e.conf.ClientID, e.conf.ClientSecret
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {current.RefreshToken}}
	if style == oauth2.AuthStyleInParams {
		form.Set("client_id", id)
		if secret != "" {
			form.Set("client_secret", secret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.conf.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("tokensource: cannot build the token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	var basic string
	if style != oauth2.AuthStyleInParams {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		basic = strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
	}
	client := e.client
	if c, ok := ctx.Value(dpopClientKey{}).(*http.Client); ok {
		client = c // the same client, adding DPoP proofs
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tokensource: no response from the token endpoint: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("tokensource: reading the token response (%s): %w", resp.Status, err)
	}
	return parseTokenResponse(ctx, e.log, resp, body, current.RefreshToken, current.AccessToken, secret, basic)
}
