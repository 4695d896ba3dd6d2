// Package login obtains a brand-new OAuth 2.0 grant from the user, as a
// [tokensource.LoginFunc]: [Browser] with the authorization code flow for
// native apps (RFC 8252: PKCE, a loopback redirect, the system browser), and
// [Device] with the device authorization grant (RFC 8628) for machines
// without a browser.
//
// Both send their requests through the *http.Client in ctx's
// [oauth2.HTTPClient] value, as golang.org/x/oauth2 does, and return when ctx
// ends, whether or not the user ever comes back. No error quotes a token,
// an authorization code or a PKCE verifier.
package login
