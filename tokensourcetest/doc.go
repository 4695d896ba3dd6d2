// Package tokensourcetest provides an OAuth 2.0 authorization server and
// protected resource for tests, in the spirit of net/http/httptest.
//
// NewServer starts a server on a loopback address. It issues and checks real
// tokens the way production servers such as Okta, Auth0, Keycloak or Ory do:
//
//   - a token endpoint (RFC 6749) for the refresh_token, client_credentials and
//     password grants, with client authentication by Basic header or by form
//     fields, and errors as RFC 6749 §5.2 describes them;
//   - refresh-token rotation, on by default, with reuse detection: presenting
//     a refresh token that was already used revokes its whole family
//     (RFC 9700 §4.14.2);
//   - a protected resource (RFC 6750) that responds 401 with a Bearer challenge
//     for a missing, expired, revoked or unknown access token, and 403
//     insufficient_scope when a scope is required;
//   - an authorization endpoint for native apps (RFC 8252): PKCE S256
//     required (RFC 7636), loopback redirect URIs on any port, and a scripted
//     user who approves at once, so that an http.Client or a headless browser
//     that follows the authorization URL comes back with a code;
//   - a device authorization endpoint (RFC 8628) with authorization_pending,
//     slow_down, access_denied and expired_token, and a verification page;
//   - a revocation endpoint (RFC 7009) that really revokes;
//   - the metadata document (RFC 8414), also at the OpenID Connect path;
//   - with Options.DPoP, sender-constrained tokens (RFC 9449): every token
//     request needs an ES256 DPoP proof with the server's nonce, issued
//     tokens are bound to the proof's key, the resource requires the DPoP
//     scheme and a proof by that key for them, and use_dpop_nonce,
//     invalid_dpop_proof and invalid_token answer what is wrong.
//
// Tests drive the server directly: Login mints a first token pair without a
// browser, ApproveDevice and DenyDevice play the user of a device flow,
// DenyConsent makes the scripted user refuse, SlowDownNext and
// SetRevocationUnavailable make those endpoints push back, Revoked tells
// what was revoked, ExpireAccessToken and RevokeFamily provoke 401s and
// invalid_grant, FailNext injects faults (5xx, 429, malformed responses,
// hangs, lost responses), SetLatency slows the token endpoint, Stats counts
// what the server saw, and FamilyRefreshes the refreshes of one login.
// RotateDPoPNonce makes the DPoP nonce that DPoPNonce returns stale. A
// Clock passed as Options.Now makes expiry, and the iat window of DPoP
// proofs, testable without sleeping.
//
// All methods of Server are safe for concurrent use, including while requests
// are being served.
package tokensourcetest
