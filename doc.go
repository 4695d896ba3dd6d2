// Package tokensource keeps HTTP clients authenticated with OAuth 2.0.
package tokensource
