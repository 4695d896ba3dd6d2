package login

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/oauth2"
)

// endpointError is an authorization server's error response. Its message
// shows the status, the error code and the description, never the body,
// with the secrets of the request redacted: servers echo what they were
// sent. errors.As finds the *oauth2.RetrieveError it wraps.
type endpointError struct {
	step string // what was being done, "exchanging the authorization code"
	msg  string
	re   *oauth2.RetrieveError
}

func (e *endpointError) Error() string { return "login: " + e.step + ": " + e.msg }

func (e *endpointError) Unwrap() error { return e.re }

// wrapEndpoint returns err, from step, with any *oauth2.RetrieveError in it
// turned into an endpointError with secrets redacted. Other errors (no
// response, a cancelled ctx) are wrapped as they are.
func wrapEndpoint(step string, err error, secrets ...string) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("login: %s: %w", step, err)
	}
	msg := "the server responded"
	if re.Response != nil {
		msg += " " + re.Response.Status
	}
	if re.ErrorCode != "" {
		msg += ": " + re.ErrorCode
	}
	if re.ErrorDescription != "" {
		msg += ": " + re.ErrorDescription
	}
	for _, s := range secrets {
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return &endpointError{step: step, msg: msg, re: re}
}
