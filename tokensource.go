package tokensource

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/oauth2"
)

// A RefreshFunc obtains a new token. current is the token being replaced; it
// may be expired, and it carries the newest refresh token known.
type RefreshFunc func(ctx context.Context, current *oauth2.Token) (*oauth2.Token, error)

// Options tune a Source. The zero value is ready to use.
type Options struct {
	EarlyExpiry    time.Duration    // a token counts as expired this long before Expiry; 0 means 10s
	RefreshAhead   time.Duration    // refresh in the background this long before EarlyExpiry; 0 means a default, <0 disables
	RefreshTimeout time.Duration    // bound on one refresh, independent of any caller's context; 0 means 30s
	Now            func() time.Time // clock, for tests; nil means time.Now
	Logger         *slog.Logger     // nil means silent; never logs a token value
}

// ErrReauthRequired means there is nothing to refresh with, or the server said
// invalid_grant.
var ErrReauthRequired = errors.New("tokensource: re-authentication required")

// Stats counts what a Source did.
type Stats struct {
	Refreshes, RefreshErrors int64 // calls of the RefreshFunc that succeeded / failed
	Adopted                  int64 // tokens taken from the store because another process refreshed first
	Saves, SaveErrors        int64
	Invalidations            int64 // Invalidate calls that actually dropped the current token
}

// Source is a persistent, reuse-aware oauth2.TokenSource.
type Source struct{}

// New returns a Source.
func New(refresh RefreshFunc, store Store, opts *Options) *Source { panic("TODO") }

// Token returns a valid token.
func (s *Source) Token() (*oauth2.Token, error) { return s.TokenContext(context.Background()) }

// TokenContext returns a valid token, waiting no longer than ctx.
func (s *Source) TokenContext(ctx context.Context) (*oauth2.Token, error) { panic("TODO") }

// Invalidate tells the Source that a server rejected this token.
func (s *Source) Invalidate(rejected *oauth2.Token) { panic("TODO") }

// Refresh forces one coalesced refresh.
func (s *Source) Refresh(ctx context.Context) (*oauth2.Token, error) { panic("TODO") }

// Stats returns counters.
func (s *Source) Stats() Stats { panic("TODO") }
