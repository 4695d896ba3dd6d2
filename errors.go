package tokensource

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/oauth2"
)

// ErrReauthRequired means the Source cannot get a token without the user:
// there is nothing to refresh with (nothing stored, or no refresh token), or
// the token endpoint answered invalid_grant. Test with errors.Is. The Source
// makes no further token requests until the store holds a different token
// (the user logged in again, perhaps in another process).
var ErrReauthRequired = errors.New("tokensource: re-authentication required")

// Errors of a refresh whose token cannot be used.
var (
	errReturnedRejected = errors.New("tokensource: refresh returned the access token a server just rejected")
	errNeverWorked      = errors.New("tokensource: a server rejected a new token before accepting any request with it")
)

// classify marks an invalid_grant answer as ErrReauthRequired.
func classify(err error) error {
	if errors.Is(err, ErrReauthRequired) {
		return err
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
		return fmt.Errorf("%w: %w", ErrReauthRequired, err)
	}
	return err
}

// retryAfter returns the wait a token endpoint asked for in a Retry-After
// header of its error response, capped at retryAfterMax.
func retryAfter(err error, now time.Time) (time.Duration, bool) {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return 0, false
	}
	v := re.Response.Header.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil {
		// Capped before the multiplication, which would overflow.
		d = time.Duration(min(max(secs, 0), int(retryAfterMax/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, 0), retryAfterMax), true
}
