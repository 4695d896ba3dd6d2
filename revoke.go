package tokensource

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// clientAuth is how a client authenticates to the authorization server's
// endpoints (RFC 6749 §2.3.1). With no id, it does not: a Source made by
// New knows no client.
type clientAuth struct {
	id, secret string
	// style is oauth2.AuthStyleInParams for client_id and client_secret
	// form fields; anything else, oauth2.AuthStyleAutoDetect included,
	// means HTTP Basic. Auto-detection is not tried at the revocation
	// endpoint: a second attempt would send the token to be revoked again
	// for no gain, and a server that refuses Basic says so in the error.
	style oauth2.AuthStyle
}

// addToForm adds the client's credentials to a request's form, if they go
// there.
func (a clientAuth) addToForm(form url.Values) {
	if a.id != "" && a.style == oauth2.AuthStyleInParams {
		form.Set("client_id", a.id)
		if a.secret != "" {
			form.Set("client_secret", a.secret)
		}
	}
}

// addToHeader adds the client's credentials to req's header, if they go
// there. RFC 6749 §2.3.1: each part is form-urlencoded before the Basic
// encoding, so that a colon in the id survives.
func (a clientAuth) addToHeader(req *http.Request) {
	if a.id != "" && a.style != oauth2.AuthStyleInParams {
		req.SetBasicAuth(url.QueryEscape(a.id), url.QueryEscape(a.secret))
	}
}

// revoke asks the revocation endpoint to revoke token (RFC 7009 §2.1), with
// hint as its token_type_hint ("refresh_token", "access_token", or "" for
// none). A nil client means http.DefaultClient.
//
// It returns nil when the server responds 200, which it does for a token it
// revoked and for one that was already invalid (§2.2): either way, nobody
// can use the token any more. Another 2xx, such as the 204 some servers
// send, counts as 200. Any other outcome, an error response, a 503
// (§2.2.1) or no response at all, is an error saying that the server was
// not told: the token may still be good there. No error quotes the token
// or the client secret, even where the server echoes them.
func revoke(ctx context.Context, client *http.Client, endpoint string, auth clientAuth, token, hint string) error {
	if client == nil {
		client = http.DefaultClient
	}
	what := "the token"
	if hint != "" {
		what = "the " + strings.ReplaceAll(hint, "_", " ")
	}
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	auth.addToForm(form)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("tokensource: the server was not told to revoke %s: bad revocation endpoint: %w", what, err)
	}
	auth.addToHeader(req)
	basic := strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ") // servers echo it too
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")

	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("tokensource: the server was not told to revoke %s: no response from the revocation endpoint: %w", what, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16)) // only for the error code
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	return &revokeError{what: what, status: resp.Status, detail: errorDetail(resp, data, token, auth.secret, basic)}
}

// errorDetail returns the error code and description of an endpoint's error
// response, with secrets redacted, or "" when it has none.
func errorDetail(resp *http.Response, body []byte, secrets ...string) string {
	f, _ := decodeFields(resp.Header.Get("Content-Type"), body)
	r := newRedacter(secrets)
	detail := redactCode(r, f.str("error"))
	if d := r.Replace(f.str("error_description")); d != "" {
		detail += ": " + d
	}
	return detail
}

// revokeError is a revocation endpoint's refusal, or failure, to revoke.
type revokeError struct {
	what   string // "the refresh token", say
	status string
	detail string // error code and description, redacted
}

func (e *revokeError) Error() string {
	msg := "tokensource: the server was not told to revoke " + e.what + ": the revocation endpoint responded " + e.status
	if e.detail != "" {
		msg += ": " + e.detail
	}
	return msg
}
