package tokensource

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"golang.org/x/oauth2"
)

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
