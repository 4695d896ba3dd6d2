package tokensource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

// parseTokenResponse reads a token endpoint's response (RFC 6749 §5): JSON, or
// the form encoding some servers use. Error messages quote no part of the
// body but the error code, description and URI, with secrets (the tokens
// and client secret of the request) and the response's own tokens redacted.
//
// A success with an access token is never refused over an optional field:
// with rotation, it may carry the only copy of the new refresh token. An
// expires_in with a fraction is floored to whole seconds; an optional field
// that cannot be used (an expires_in that is no number, a scope that is no
// string) is dropped, and log, if not nil, says so without quoting it. Only
// a missing access_token or a body that cannot be parsed is an error.
func parseTokenResponse(ctx context.Context, log *slog.Logger, resp *http.Response, body []byte, secrets ...string) (*oauth2.Token, error) {
	fields, err := decodeFields(resp.Header.Get("Content-Type"), body)
	failed := resp.StatusCode < 200 || resp.StatusCode > 299
	if failed || fields.str("error") != "" {
		// The body is not kept: an error response may still carry tokens,
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
		return nil, fmt.Errorf("tokensource: token endpoint responded %s with a body that cannot be parsed (%d bytes): %w", resp.Status, len(body), err)
	}
	if fields.str("access_token") == "" {
		return nil, fmt.Errorf("tokensource: token endpoint responded %s without an access_token", resp.Status)
	}
	for _, key := range fields.unusable() {
		delete(fields, key)
		if log != nil {
			log.WarnContext(ctx, "tokensource: ignored an unusable field of the token response", "field", key, "status", resp.Status)
		}
	}
	expiresIn, _ := fields.seconds("expires_in")
	tok := &oauth2.Token{
		AccessToken:  fields.str("access_token"),
		TokenType:    fields.str("token_type"),
		RefreshToken: fields.str("refresh_token"),
		ExpiresIn:    expiresIn,
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

// optionalStrings are the optional parameters of a successful token
// response that are strings when they can be used.
var optionalStrings = []string{"token_type", "refresh_token", "scope"}

// unusable returns the optional parameters that are present but cannot be
// used: one of optionalStrings that is no string, or an expires_in that is
// no number of seconds.
func (f fields) unusable() []string {
	var keys []string
	for _, key := range optionalStrings {
		if _, ok := f[key].(string); !ok && f[key] != nil {
			keys = append(keys, key)
		}
	}
	if _, ok := f.seconds("expires_in"); !ok {
		keys = append(keys, "expires_in")
	}
	return keys
}

// seconds returns a parameter that counts seconds, sent as a JSON number or
// as a string (some servers quote expires_in), floored to whole seconds:
// " 3600", "3600.0" and 3600.9 give 3600. Absent, null, "" and negative
// numbers give 0; a number too large for an int64 gives math.MaxInt64. ok
// is false for anything else (text, another JSON type): read as 0, such a
// value makes a token that never expires, and the 401 path is what
// replaces it.
func (f fields) seconds(key string) (n int64, ok bool) {
	switch v := f[key].(type) {
	case nil:
		return 0, true
	case float64:
		return floorSeconds(v), true
	case string:
		s := strings.TrimSpace(v)
		if s == "" {
			return 0, true
		}
		// ParseFloat also reads "Inf", "NaN" and hexadecimal: not seconds.
		if strings.ContainsFunc(s, func(r rune) bool { return !strings.ContainsRune("0123456789.+-eE", r) }) {
			return 0, false
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return 0, false
		}
		return floorSeconds(x), true
	}
	return 0, false
}

// floorSeconds returns x floored, within [0, math.MaxInt64].
func floorSeconds(x float64) int64 {
	switch {
	case !(x > 0):
		return 0
	case x >= math.MaxInt64:
		return math.MaxInt64
	}
	return int64(math.Floor(x))
}

// EndpointError is a token endpoint's error response. It is an
// [oauth2.RetrieveError] ([errors.As] finds both), whose Response is the
// HTTP response (its body already read and closed) and whose Body is left
// empty: an error response may carry tokens, and no message shows more than
// the status, error code and description. Servers echo what they were sent,
// so the refresh token, access token and client secret of the request, and
// any token in the response, are replaced with "[redacted]" in ErrorCode
// (unless it is a code of RFC 6749), ErrorDescription and ErrorURI.
//
// A secret shorter than 8 bytes (minRedacted) is left in the text: replacing
// every "s" or "e" would mangle the message (https://e/x would read
// http[redacted]://e/x) while hiding nothing that could not be guessed.
type EndpointError struct {
	oauth2.RetrieveError
}

func (e *EndpointError) Error() string {
	msg := "tokensource: token endpoint responded " + e.Response.Status
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

// minRedacted is the length, in bytes, of the shortest secret that is
// redacted (see EndpointError).
const minRedacted = 8

// newRedacter returns a replacer of each secret of at least minRedacted
// bytes, as sent and as URL-encoded, by redacted. The longest go first, so
// that a secret holding another is replaced whole.
func newRedacter(secrets []string) *strings.Replacer {
	var olds []string
	for _, s := range secrets {
		if len(s) >= minRedacted {
			olds = append(olds, s, url.QueryEscape(s))
		}
	}
	slices.SortFunc(olds, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(olds))
	for _, s := range olds {
		pairs = append(pairs, s, redacted)
	}
	return strings.NewReplacer(pairs...)
}
