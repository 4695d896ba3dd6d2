package tokensource

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/oauth2"
)

// FromConfig returns a Source that refreshes with the refresh token grant
// at conf's token endpoint, through the *http.Client in ctx's
// oauth2.HTTPClient value (http.DefaultClient when there is none), like
// oauth2.Config.TokenSource. Only ctx's values are used: the refresh runs
// under its own context, bounded by Options.RefreshTimeout.
//
// The first token comes from the store: log the user in with conf (Exchange,
// PasswordCredentialsToken, a device flow) and Save the token before the
// first call, or let the calls fail with ErrReauthRequired until someone
// does. A response without a refresh token keeps the old one (RFC 6749 §6).
//
// Each refresh sends one token request. With conf.Endpoint.AuthStyle left at
// oauth2.AuthStyleAutoDetect, it sends the client credentials in a Basic
// header first and, only if the server answers that it rejected the client
// (401, or invalid_client), once more in the form; the style that worked is
// kept for the life of the Source. Unlike x/oauth2, it never resends a
// refresh token after a request whose answer was lost: with rotation, that
// resend would be a replay, and a server that detects reuse revokes the
// whole token family. Set AuthStyle explicitly to make every refresh exactly
// one request.
func FromConfig(ctx context.Context, conf *oauth2.Config, store Store, opts *Options) *Source {
	e := &endpoint{conf: conf, client: http.DefaultClient}
	if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
		e.client = c
	}
	return New(e.refresh, store, opts)
}

// endpoint refreshes tokens at an oauth2.Config's token endpoint.
type endpoint struct {
	conf     *oauth2.Config
	client   *http.Client
	detected atomic.Int32 // the oauth2.AuthStyle that worked, for AuthStyleAutoDetect
}

func (e *endpoint) refresh(ctx context.Context, current *oauth2.Token) (*oauth2.Token, error) {
	if current == nil || current.RefreshToken == "" {
		return nil, fmt.Errorf("%w: no refresh token", ErrReauthRequired)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {current.RefreshToken}}
	style := e.conf.Endpoint.AuthStyle
	if style != oauth2.AuthStyleAutoDetect {
		return e.post(ctx, form, style)
	}
	if d := oauth2.AuthStyle(e.detected.Load()); d != oauth2.AuthStyleAutoDetect {
		return e.post(ctx, form, d)
	}
	style = oauth2.AuthStyleInHeader
	tok, err := e.post(ctx, form, style)
	if clientRejected(err) {
		// The server refused the client before it looked at the refresh
		// token, so sending it again is not a replay.
		style = oauth2.AuthStyleInParams
		tok, err = e.post(ctx, form, style)
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

// post sends one token request and parses the answer.
func (e *endpoint) post(ctx context.Context, form url.Values, style oauth2.AuthStyle) (*oauth2.Token, error) {
	id, secret := e.conf.ClientID, e.conf.ClientSecret
	if style == oauth2.AuthStyleInParams {
		form = cloneValues(form)
		form.Set("client_id", id)
		if secret != "" {
			form.Set("client_secret", secret)
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.conf.Endpoint.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("tokensource: token request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if style != oauth2.AuthStyleInParams {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tokensource: token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("tokensource: reading the token response (%s): %w", resp.Status, err)
	}
	return parseTokenResponse(resp, body)
}

// parseTokenResponse reads a token endpoint's answer (RFC 6749 §5): JSON, or
// the form encoding some servers use. Error messages quote no part of the
// body but the error code and description, so no token can leak into them.
func parseTokenResponse(resp *http.Response, body []byte) (*oauth2.Token, error) {
	fields, err := decodeFields(resp.Header.Get("Content-Type"), body)
	failed := resp.StatusCode < 200 || resp.StatusCode > 299
	if failed || fields.str("error") != "" {
		// The body is not kept: an error answer may still carry tokens,
		// and RetrieveError.Error prints its body.
		return nil, &EndpointError{RetrieveError: oauth2.RetrieveError{
			Response:         resp,
			ErrorCode:        fields.str("error"),
			ErrorDescription: fields.str("error_description"),
			ErrorURI:         fields.str("error_uri"),
		}}
	}
	if err != nil {
		return nil, fmt.Errorf("tokensource: token endpoint answered %s with a body that cannot be parsed (%d bytes): %w", resp.Status, len(body), err)
	}
	tok := &oauth2.Token{
		AccessToken:  fields.str("access_token"),
		TokenType:    fields.str("token_type"),
		RefreshToken: fields.str("refresh_token"),
		ExpiresIn:    fields.int("expires_in"),
	}
	if tok.AccessToken == "" {
		return nil, fmt.Errorf("tokensource: token endpoint answered %s without an access_token", resp.Status)
	}
	return tok.WithExtra(map[string]any(fields)), nil
}

// fields are the parameters of a token response.
type fields map[string]any

func decodeFields(contentType string, body []byte) (fields, error) {
	media, _, _ := mime.ParseMediaType(contentType)
	if media == "application/x-www-form-urlencoded" || media == "text/plain" {
		vals, err := url.ParseQuery(string(body))
		f := fields{}
		for k := range vals {
			f[k] = vals.Get(k)
		}
		return f, err
	}
	var f fields
	if err := json.Unmarshal(body, &f); err != nil {
		return fields{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if f == nil {
		f = fields{}
	}
	return f, nil
}

// str returns a string parameter, or "" when it is absent or not a string.
func (f fields) str(key string) string {
	s, _ := f[key].(string)
	return s
}

// int returns a whole-number parameter sent as a JSON number or a string
// (some servers quote expires_in), or 0.
func (f fields) int(key string) int64 {
	switch v := f[key].(type) {
	case float64:
		return int64(v)
	case string:
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return 0
}

func cloneValues(v url.Values) url.Values {
	c := make(url.Values, len(v)+2)
	for k, vs := range v {
		c[k] = append([]string(nil), vs...)
	}
	return c
}

// EndpointError is a token endpoint's error answer. It is an
// oauth2.RetrieveError (errors.As finds both), whose Response is the answer
// (its body already read and closed) and whose Body is left empty: an error
// answer may carry tokens, and no message shows more than the status, error
// code and description.
type EndpointError struct {
	oauth2.RetrieveError
}

func (e *EndpointError) Error() string {
	msg := "tokensource: token endpoint answered " + e.Response.Status
	if e.ErrorCode != "" {
		msg += ": " + e.ErrorCode
	}
	if e.ErrorDescription != "" {
		msg += ": " + e.ErrorDescription
	}
	return msg
}

// Unwrap returns the embedded oauth2.RetrieveError.
func (e *EndpointError) Unwrap() error { return &e.RetrieveError }
