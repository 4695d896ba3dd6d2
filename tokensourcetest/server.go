package tokensourcetest

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Default values for the zero fields of Options.
const (
	DefaultAccessTokenLifetime = time.Hour
	DefaultClientID            = "test-client"
	DefaultClientSecret        = "test-secret"
	DefaultDeviceInterval      = time.Second
	DefaultDeviceCodeLifetime  = 10 * time.Minute
)

// The resource owner accepted by the password grant, and the subject of the
// tokens that Login and the password grant issue.
const (
	Username = "user"
	Password = "pass"
)

// Options configure a Server. A nil *Options, and every zero field, means the
// default described on the field.
type Options struct {
	// AccessTokenLifetime is how long issued access tokens are valid, judged
	// by the server clock. 0 means DefaultAccessTokenLifetime (1 hour).
	// The token response carries expires_in rounded down to whole seconds,
	// as real servers do; a lifetime under a second is sent as expires_in 0,
	// which golang.org/x/oauth2 reads as "never expires". A negative
	// lifetime issues tokens that are already expired.
	AccessTokenLifetime time.Duration

	// NoRotation makes the refresh_token grant return the same refresh token
	// instead of a new one. Refresh tokens then stay usable until their family
	// is revoked, and there is no reuse detection.
	NoRotation bool

	// ReuseGrace is a window, measured with the server clock from a refresh
	// token's first use, during which presenting that refresh token again is
	// taken as a normal refresh (a new token pair in the same family)
	// instead of as reuse. It models two processes racing with the same
	// refresh token. 0 means no grace: any second use is reuse.
	ReuseGrace time.Duration

	// Now is the server clock, used for expiry and the reuse grace window.
	// nil means time.Now. See Clock. Latency is always real time.
	Now func() time.Time

	// Latency is added to every token-endpoint response. It is real time; a
	// request whose context ends or whose server closes stops waiting at once.
	// SetLatency changes it later.
	Latency time.Duration

	// ClientID and ClientSecret are the only client credentials the token
	// endpoint accepts. Empty means DefaultClientID and DefaultClientSecret.
	ClientID, ClientSecret string

	// AuthStyle is the client authentication style that Config and
	// ClientCredentials return. The server accepts both styles regardless.
	// 0 (oauth2.AuthStyleAutoDetect) means oauth2.AuthStyleInHeader.
	AuthStyle oauth2.AuthStyle

	// DeviceInterval is the polling interval the device authorization
	// endpoint announces (RFC 8628 §3.2), rounded up to whole seconds, the
	// unit of the protocol. 0 means DefaultDeviceInterval (1 second, the
	// shortest there is, so that tests of the device flow are quick).
	DeviceInterval time.Duration

	// DeviceCodeLifetime is how long a device code and its user code are
	// valid, judged by the server clock. 0 means DefaultDeviceCodeLifetime
	// (10 minutes).
	DeviceCodeLifetime time.Duration

	// DPoP turns on DPoP mode (RFC 9449): sender-constrained tokens.
	//
	// Every request to the token endpoint, whatever its grant, must then
	// carry a DPoP header with a proof: a compact JWS signed with ES256
	// (the only alg accepted; "none" is refused), whose protected header has
	// typ "dpop+jwt" and the public EC P-256 key as jwk (one with a private
	// "d" is refused), and whose claims are htm, the request method; htu,
	// the URL the request was sent to, without query and fragment (scheme,
	// host and path, compared after RFC 3986 normalization; behind a TCP
	// proxy, the proxy's URL); iat, within 60 seconds of the server clock
	// (Now) either way; a jti never seen by this server; and nonce, the
	// server's current DPoPNonce. A proof without the current nonce gets
	// 400 use_dpop_nonce with the nonce in a DPoP-Nonce header; any other
	// bad proof, or none, gets 400 invalid_dpop_proof, and the request is
	// not processed. Every response of the token endpoint, faults included,
	// carries the current nonce in DPoP-Nonce.
	//
	// Tokens issued with a valid proof have token_type "DPoP" and are bound
	// to the RFC 7638 thumbprint of its key: the access token, and the
	// refresh token's whole family, for every client. A refresh with a
	// proof by another key gets 400 invalid_grant and changes nothing: the
	// refresh token stays unused, and no reuse is detected. Login, which
	// takes no proof, still mints an unbound Bearer pair; its family is
	// bound to the key of its first refresh.
	//
	// The resource then takes a DPoP-bound token only as
	// "Authorization: DPoP <token>" with a proof as above for the resource
	// request, whose ath is the token's SHA-256 in base64url and whose key
	// is the one the token is bound to; it answers 401 with a DPoP
	// challenge: use_dpop_nonce for a missing or stale nonce,
	// invalid_dpop_proof for a proof that is otherwise bad (a problem of
	// the proof: a new proof may do), and invalid_token for a proof by
	// another key, a DPoP-bound token sent with the Bearer scheme, an
	// unbound token sent with the DPoP scheme, and every problem of the
	// token itself (a problem of the token: the client must get another).
	// Unbound tokens keep working with the Bearer scheme. Every response of
	// the resource carries DPoP-Nonce, and a 401 offers the DPoP scheme
	// with algs="ES256" besides any Bearer challenge.
	//
	// The revocation and device authorization endpoints take no proof. The
	// metadata lists dpop_signing_alg_values_supported ["ES256"]. Stats
	// counts refused proofs in DPoPProofsRejected and nonce challenges in
	// DPoPNonceChallenges.
	DPoP bool

	// DPoPNonceLifetime, if positive, makes the DPoP nonce rotate by itself
	// once it is that old by the server clock (Now), as if RotateDPoPNonce
	// were called; the old nonce is stale at once. 0 or less means the
	// nonce changes only with RotateDPoPNonce. It matters only with DPoP.
	DPoPNonceLifetime time.Duration
}

// A Server is an OAuth 2.0 authorization server and protected resource
// listening on a loopback address, for use in tests. Create one with
// NewServer and Close it when done.
//
// Its endpoints are:
//
//	URL + "/authorize"             the authorization endpoint (GET; PKCE S256 required)
//	URL + "/token"                 the token endpoint (POST, form-encoded)
//	URL + "/device_authorization"  the device authorization endpoint (RFC 8628)
//	URL + "/device"                the device verification page
//	URL + "/revoke"                the revocation endpoint (RFC 7009)
//	URL + "/resource"              the protected resource (any method, Bearer or DPoP token)
//	URL + "/.well-known/oauth-authorization-server"  the metadata (RFC 8414),
//	URL + "/.well-known/openid-configuration"       also at its OpenID Connect path
//
// Behind the authorization endpoint and the device verification page is a
// scripted user who is always signed in and approves at once, unless
// DenyConsent says otherwise: a plain http.Client, or a real browser, that
// follows the authorization URL lands on the redirect URI with a code. Login
// and the password grant mint first tokens without any of that.
type Server struct {
	// URL is the base URL of the server, of the form http://127.0.0.1:port,
	// with no trailing slash.
	URL string

	ts        *httptest.Server
	opts      Options // with defaults filled in
	now       func() time.Time
	closed    chan struct{} // closed by Close, ends hung requests
	closeOnce sync.Once
	inFlight  atomic.Int64 // token requests being served, for tests

	mu      sync.Mutex // guards everything below
	latency time.Duration
	faults  []Fault // queued by FailNext, next first
	scope   string  // required by the resource; "" means none
	stats   Stats
	access  map[string]*accessToken
	refresh map[string]*refreshToken

	codes       map[string]*authCode   // authorization codes
	devices     map[string]*deviceCode // by device_code
	userCodes   map[string]*deviceCode // by normalized user_code
	denyConsent bool                   // the scripted user denies
	slowDowns   int                    // device polls still to answer slow_down
	revokeDown  bool                   // the revocation endpoint responds 503
	dpop        dpopState              // nonce and seen jtis, in DPoP mode
}

// NewServer starts and returns a new Server configured by opts, which may be
// nil. The caller should call Close when finished, to shut it down.
func NewServer(opts *Options) *Server {
	s := &Server{
		closed:  make(chan struct{}),
		access:  make(map[string]*accessToken),
		refresh: make(map[string]*refreshToken),

		codes:     make(map[string]*authCode),
		devices:   make(map[string]*deviceCode),
		userCodes: make(map[string]*deviceCode),
	}
	if opts != nil {
		s.opts = *opts
	}
	if s.opts.AccessTokenLifetime == 0 {
		s.opts.AccessTokenLifetime = DefaultAccessTokenLifetime
	}
	if s.opts.ClientID == "" {
		s.opts.ClientID = DefaultClientID
	}
	if s.opts.ClientSecret == "" {
		s.opts.ClientSecret = DefaultClientSecret
	}
	if s.opts.AuthStyle == oauth2.AuthStyleAutoDetect {
		s.opts.AuthStyle = oauth2.AuthStyleInHeader
	}
	if s.opts.DeviceInterval <= 0 {
		s.opts.DeviceInterval = DefaultDeviceInterval
	}
	s.opts.DeviceInterval = wholeSeconds(s.opts.DeviceInterval)
	if s.opts.DeviceCodeLifetime <= 0 {
		s.opts.DeviceCodeLifetime = DefaultDeviceCodeLifetime
	}
	s.latency = s.opts.Latency
	s.now = s.opts.Now
	if s.now == nil {
		s.now = time.Now
	}
	if s.opts.DPoP {
		s.rotateDPoPNonceLocked()
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/authorize", s.serveAuthorize)
	mux.HandleFunc("/token", s.serveToken)
	mux.HandleFunc("/device_authorization", s.serveDeviceAuthorization)
	mux.HandleFunc("/device", s.serveDeviceVerification)
	mux.HandleFunc("/revoke", s.serveRevoke)
	mux.HandleFunc(metadataPath, s.serveMetadata)
	mux.HandleFunc(openIDMetadataPath, s.serveMetadata)
	mux.HandleFunc("/resource", s.serveResource)
	mux.HandleFunc("/resource/", s.serveResource)
	s.ts = httptest.NewServer(mux)
	s.URL = s.ts.URL
	return s
}

// Close shuts down the server and blocks until all outstanding requests on
// it have completed. Requests held by FaultHang or by Latency end at once:
// their connections are closed without a response. Like httptest.Server's
// Close, it also closes the idle connections of http.DefaultTransport, so
// that no client goroutine outlives the server. Close may be called more
// than once. The methods that control the server, such as Login and Stats,
// keep working after Close.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closed) })
	s.ts.Close()
}

// TokenURL returns the URL of the token endpoint, URL + "/token".
func (s *Server) TokenURL() string { return s.URL + "/token" }

// ResourceURL returns the URL of the protected resource, URL + "/resource".
// Paths below it, such as URL + "/resource/a/b", are the same resource.
func (s *Server) ResourceURL() string { return s.URL + "/resource" }

// AuthorizeURL returns the URL of the authorization endpoint,
// URL + "/authorize".
func (s *Server) AuthorizeURL() string { return s.URL + "/authorize" }

// DeviceAuthURL returns the URL of the device authorization endpoint,
// URL + "/device_authorization".
func (s *Server) DeviceAuthURL() string { return s.URL + "/device_authorization" }

// RevocationURL returns the URL of the revocation endpoint, URL + "/revoke".
func (s *Server) RevocationURL() string { return s.URL + "/revoke" }

// Config returns a new *oauth2.Config for the server's client: its client ID
// and secret, the authorization, token and device authorization endpoints,
// the explicit AuthStyle from Options, no RedirectURL and no scopes. Each
// call returns a new Config that the caller may modify.
func (s *Server) Config() *oauth2.Config {
	return &oauth2.Config{
		ClientID:     s.opts.ClientID,
		ClientSecret: s.opts.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:       s.AuthorizeURL(),
			DeviceAuthURL: s.DeviceAuthURL(),
			TokenURL:      s.TokenURL(),
			AuthStyle:     s.opts.AuthStyle,
		},
	}
}

// ClientCredentials returns a new *clientcredentials.Config for the server's
// client, with the same credentials, token URL and AuthStyle as Config, and
// no scopes. The tokens it obtains have no refresh token.
func (s *Server) ClientCredentials() *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID:     s.opts.ClientID,
		ClientSecret: s.opts.ClientSecret,
		TokenURL:     s.TokenURL(),
		AuthStyle:    s.opts.AuthStyle,
	}
}
