package tokensource

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

// parseTokenResponse reads a token endpoint's answer (RFC 6749 §5): JSON, or
// the form encoding some servers use. Error messages quote no part of the
// body but the error code, description and URI, with secrets (the tokens
// and client secret of the request) and the answer's own tokens redacted.
func parseTokenResponse(resp *http.Response, body []byte, secrets ...string) (*oauth2.Token, error) {
	fields, err := decodeFields(resp.Header.Get("Content-Type"), body)
	failed := resp.StatusCode < 200 || resp.StatusCode > 299
	if failed || fields.str("error") != "" {
		// The body is not kept: an error answer may still carry tokens,
		// and RetrieveError.Error prints its body.
		r := newRedacter(append(slices.Clip(secrets), fields.str("access_token"), fields.str("refresh_token")))
		return nil, &EndpointError{RetrieveError: oauth2.RetrieveError{
			Response:         resp,
			ErrorCode:        redactCode(r, fields.str("error")),
			ErrorDescription: r.Replace(fields.str("error_description")),
			ErrorURI:         r.Replace(fields.str("error_uri")),
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
// (some servers quote expires_in), or 0 when it is absent, not a number, or
// negative. A number too large for an int64 gives math.MaxInt64.
func (f fields) int(key string) int64 {
	switch v := f[key].(type) {
	case float64:
		if v >= math.MaxInt64 {
			return math.MaxInt64
		}
		return max(int64(v), 0)
	case string:
		n, err := strconv.ParseInt(v, 10, 64)
		if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-") {
			return math.MaxInt64
		}
		return max(n, 0)
	}
	return 0
}

// EndpointError is a token endpoint's error answer. It is an
// oauth2.RetrieveError (errors.As finds both), whose Response is the answer
// (its body already read and closed) and whose Body is left empty: an error
// answer may carry tokens, and no message shows more than the status, error
// code and description. Servers echo what they were sent, so the refresh
// token, access token and client secret of the request, and any token in
// the answer, are replaced with "[redacted]" in ErrorCode (unless it is a
// code of RFC 6749), ErrorDescription and ErrorURI.
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

// redacted replaces every secret an EndpointError would otherwise show.
const redacted = "[redacted]"

// rfc6749Codes are the error codes of a token endpoint (RFC 6749 §5.2,
// and §4.1.2.1 for the last two). They are kept as they are: programs act
// on them, and a short secret must not turn invalid_grant into something
// else.
var rfc6749Codes = []string{
	"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", "server_error", "temporarily_unavailable",
}

// redactCode returns code with r applied, unless it is in rfc6749Codes.
func redactCode(r *strings.Replacer, code string) string {
	if slices.Contains(rfc6749Codes, code) {
		return code
	}
	return r.Replace(code)
}

// newRedacter returns a replacer of each non-empty secret, as sent and as
// URL-encoded, by redacted. The longest go first, so that a secret holding
// another is replaced whole.
func newRedacter(secrets []string) *strings.Replacer {
	var olds []string
	for _, s := range secrets {
		olds = append(olds, s, url.QueryEscape(s))
	}
	olds = slices.DeleteFunc(olds, func(s string) bool { return s == "" })
	slices.SortFunc(olds, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(olds))
	for _, s := range olds {
		pairs = append(pairs, s, redacted)
	}
	return strings.NewReplacer(pairs...)
}
