package login

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/oauthkit/tokensource"
	"golang.org/x/oauth2"
)

// Device returns a LoginFunc that signs the user in with the device
// authorization grant (RFC 8628), for a program on a machine without a
// browser: the user enters a code on another device.
//
// Each call asks conf's device authorization endpoint
// (conf.Endpoint.DeviceAuthURL) for a device code, calls prompt once with
// the user code and the verification URI to show the user, then polls the
// token endpoint (conf.DeviceAccessToken) until the user approves or
// denies, or the code expires. Polls come every interval the server asked
// for (5 seconds when it did not say), 5 seconds more after each slow_down;
// authorization_pending just means another poll.
//
// prompt may block, waiting for the user to press a key, say; an error from
// it ends the login before the first poll. nil means a prompt that writes
// the URI and code to standard error. When ctx ends, polling stops at once
// and the login returns ctx's error; when the device code expires first,
// the error says so.
func Device(conf *oauth2.Config, prompt func(ctx context.Context, da *oauth2.DeviceAuthResponse) error) tokensource.LoginFunc {
	if prompt == nil {
		prompt = writePrompt(os.Stderr)
	}
	return func(ctx context.Context) (*oauth2.Token, error) {
		da, err := conf.DeviceAuth(ctx)
		if err != nil {
			return nil, wrapEndpoint("requesting a device code", err)
		}
		if err := prompt(ctx, da); err != nil {
			return nil, fmt.Errorf("login: prompt: %w", err)
		}
		tok, err := conf.DeviceAccessToken(ctx, da)
		if err != nil {
			return nil, deviceError(ctx, err, da.DeviceCode)
		}
		return tok, nil
	}
}

// errCodeExpired means the user code expired before the user approved it.
var errCodeExpired = errors.New("login: the user code expired before the user approved it")

// deviceError explains why polling for the device code ended.
func deviceError(ctx context.Context, err error, deviceCode string) error {
	if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		// x/oauth2 polls until the code's expiry as a deadline of its own.
		return errCodeExpired
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "expired_token" {
		return fmt.Errorf("%w: %w", errCodeExpired, wrapEndpoint("polling for the token", err, deviceCode))
	}
	return wrapEndpoint("polling for the token", err, deviceCode)
}

// writePrompt returns a prompt that tells the user, on w, where to go and
// what to enter.
func writePrompt(w io.Writer) func(context.Context, *oauth2.DeviceAuthResponse) error {
	return func(_ context.Context, da *oauth2.DeviceAuthResponse) error {
		_, err := fmt.Fprintf(w, "To sign in, open %s and enter the code %s\n", da.VerificationURI, da.UserCode)
		return err
	}
}
