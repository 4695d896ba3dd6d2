package tokensource

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// ErrReauthRequired means the Source cannot get a token without the user:
// there is nothing to refresh with (nothing stored, or no refresh token), or
// the token endpoint responded invalid_grant. Test with errors.Is. The Source
// makes no further token requests until the store holds a different token
// (the user logged in again, perhaps in another process).
var ErrReauthRequired = errors.New("tokensource: re-authentication required")

// An error message names the package that made it once, on the innermost
// error of this project: a layer that wraps one adds its context without a
// name, as in "loading the store: tokensource: token file "/x" is corrupt",
// and a layer that wraps none says "tokensource: ".

// named reports whether err, or an error it wraps, names this package:
// its message begins with "tokensource: ". Stores say what failed through
// a [StoreError], which does, so an error of any store of this project is
// named once.
func named(err error) bool {
	if err == nil {
		return false
	}
	if strings.HasPrefix(err.Error(), "tokensource: ") {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return named(u.Unwrap())
	case interface{ Unwrap() []error }:
		return slices.ContainsFunc(u.Unwrap(), named)
	}
	return false
}

// prefixed returns context, the start of a message that goes on with err's,
// with the package's name before it unless err names one of this project.
func prefixed(context string, err error) string {
	if named(err) {
		return context
	}
	return "tokensource: " + context
}

// wrap returns err with context before it: "context: err" (see prefixed).
func wrap(context string, err error) error {
	return fmt.Errorf("%s: %w", prefixed(context, err), err)
}

// Errors of a refresh whose token cannot be used.
var (
	errReturnedRejected = errors.New("tokensource: refresh returned the access token a server just rejected")
	errNeverWorked      = errors.New("tokensource: a server rejected a new token before accepting any request with it")
	errRetired          = &reauthError{errors.New("tokensource: the Pool deleted this Source's key")}
)

// classify marks an invalid_grant response as ErrReauthRequired.
func classify(err error) error {
	if errors.Is(err, ErrReauthRequired) {
		return err
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
		return &reauthError{err}
	}
	return err
}

// reauthError is a refusal of the refresh token, which is ErrReauthRequired,
// in a message that names the package once.
type reauthError struct{ err error }

func (e *reauthError) Error() string {
	return prefixed("re-authentication required", e.err) + ": " + e.err.Error()
}
func (e *reauthError) Unwrap() error        { return e.err }
func (e *reauthError) Is(target error) bool { return target == ErrReauthRequired }

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
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		// Capped before the multiplication, which would overflow; a number
		// too large for 64 bits gives the largest, or the smallest.
		d = time.Duration(min(max(secs, 0), int64(retryAfterMax/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	return min(max(d, 0), retryAfterMax), true
}
