package tokensource

import (
	"math/rand/v2"
	"time"

	"golang.org/x/oauth2"
)

// Backoff after failed refreshes: the wait doubles from backoffMin with
// each failure in a row, up to backoffMax, and is jittered down by up to a
// half so that processes that failed together do not retry together. A
// longer Retry-After from the token endpoint, up to retryAfterMax, replaces
// it.
const (
	backoffMin    = time.Second
	backoffMax    = time.Minute
	retryAfterMax = 10 * time.Minute
)

// failure remembers the last failed refresh, to space out the next ones.
// The zero value means the last refresh succeeded.
type failure struct {
	err       error
	n         int       // failures in a row
	retryAt   time.Time // no refresh before this, unless forced
	reauth    bool      // no refresh with reauthRT again
	reauthRT  string    // the refresh token the server refused, or "" for none
	storeDown bool      // the store could not be loaded: not even loaded again before retryAt
	returned  string    // the access token a refresh returned though a server had rejected it
}

// record notes a failed refresh from base at now, whose error asked for a
// wait (see retryAfter) and may be ErrReauthRequired; again says that it
// replaces a failure of the same flight, which counted already. The caller
// reads wait and reauth from err: record runs under the Source's mutex,
// where no method of an error from outside the package may run.
func (f *failure) record(err error, wait time.Duration, reauth bool, now time.Time, base *oauth2.Token, again bool) {
	// A Retry-After may lengthen the backoff, never shorten it: a server
	// that says "retry now" is not to be hammered.
	n := f.n + 1
	if again {
		n = max(f.n, 1)
	}
	*f = failure{
		err:      err,
		n:        n,
		retryAt:  now.Add(max(wait, backoff(n))),
		reauth:   reauth,
		reauthRT: refreshToken(base),
	}
}

// backedOff returns the error a flight ends with instead of calling the
// RefreshFunc with latest: ErrReauthRequired while latest carries the
// refresh token that was refused (until someone saves another one), and,
// unless forced, the last error until the backoff has passed.
func (f *failure) backedOff(now time.Time, latest *oauth2.Token, force bool) error {
	switch {
	case f.err == nil:
		return nil
	case f.reauth:
		if refreshToken(latest) != f.reauthRT {
			return nil
		}
		return f.err
	case !force && now.Before(f.retryAt):
		return &BackoffError{Err: f.err, RetryAt: f.retryAt}
	}
	return nil
}

// backoff returns the wait after n failures in a row.
func backoff(n int) time.Duration {
	d := backoffMax
	if n < 32 {
		d = min(backoffMin<<(n-1), backoffMax)
	}
	return d - rand.N(d/2+1)
}

// BackoffError is returned, at once and without calling the [RefreshFunc], to
// callers that need a new token while the Source waits after a failed
// refresh. It wraps that refresh's error.
//
// The wait is between half a second and a second after one failure, and
// doubles with each failure in a row, up to a minute; a longer Retry-After
// from the token endpoint, up to ten minutes, lengthens it, and never
// shortens it. [Source.Refresh] does not wait. After [ErrReauthRequired]
// there is no next attempt until the store holds another token.
type BackoffError struct {
	Err     error     // the last refresh's error
	RetryAt time.Time // when the next attempt may start, by Options.Now; [Source.Refresh] does not wait for it
}

// Error says when the next attempt may start, in UTC, and why the last one
// failed: "refresh failed, next attempt at 2026-01-02T15:04:05.123Z: ...".
func (e *BackoffError) Error() string {
	msg := prefixed("refresh failed, next attempt at "+e.RetryAt.UTC().Format(retryAtLayout), e.Err)
	if e.Err == nil {
		return msg
	}
	return msg + ": " + e.Err.Error()
}

// retryAtLayout is RFC 3339 to the millisecond.
const retryAtLayout = "2006-01-02T15:04:05.000Z07:00"

func (e *BackoffError) Unwrap() error { return e.Err }
