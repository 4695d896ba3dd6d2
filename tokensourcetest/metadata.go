package tokensourcetest

import (
	"encoding/json"
	"net/http"
)

// The paths of the metadata document: RFC 8414's, and OpenID Connect
// Discovery's, which clients such as go-oidc read.
const (
	metadataPath       = "/.well-known/oauth-authorization-server"
	openIDMetadataPath = "/.well-known/openid-configuration"
)

// metadata is the authorization server metadata (RFC 8414 §2).
type metadata struct {
	Issuer                      string   `json:"issuer"`
	AuthorizationEndpoint       string   `json:"authorization_endpoint"`
	TokenEndpoint               string   `json:"token_endpoint"`
	DeviceAuthorizationEndpoint string   `json:"device_authorization_endpoint"`
	RevocationEndpoint          string   `json:"revocation_endpoint"`
	ResponseTypes               []string `json:"response_types_supported"`
	GrantTypes                  []string `json:"grant_types_supported"`
	CodeChallengeMethods        []string `json:"code_challenge_methods_supported"`
	TokenAuthMethods            []string `json:"token_endpoint_auth_methods_supported"`
	RevocationAuthMethods       []string `json:"revocation_endpoint_auth_methods_supported"`
	DPoPSigningAlgs             []string `json:"dpop_signing_alg_values_supported,omitempty"`
}

// MetadataURL returns the URL of the server's metadata document (RFC 8414),
// URL + "/.well-known/oauth-authorization-server". The same document is
// served at URL + "/.well-known/openid-configuration", so that OpenID
// Connect discovery with URL as the issuer finds the endpoints too; the
// server issues no ID tokens, so the document lists no jwks_uri.
func (s *Server) MetadataURL() string { return s.URL + metadataPath }

// serveMetadata serves the metadata document. Its issuer is URL, the
// identifier that both discovery paths are derived from.
func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "the metadata accepts only GET", http.StatusMethodNotAllowed)
		return
	}
	auth := []string{"client_secret_basic", "client_secret_post"}
	md := metadata{
		Issuer:                      s.URL,
		AuthorizationEndpoint:       s.AuthorizeURL(),
		TokenEndpoint:               s.TokenURL(),
		DeviceAuthorizationEndpoint: s.DeviceAuthURL(),
		RevocationEndpoint:          s.RevocationURL(),
		ResponseTypes:               []string{"code"},
		GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials",
			"password", deviceGrantType},
		CodeChallengeMethods:  []string{"S256"},
		TokenAuthMethods:      auth,
		RevocationAuthMethods: auth,
	}
	if s.opts.DPoP {
		md.DPoPSigningAlgs = []string{dpopAlg}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(md) // the client may be gone; nothing to do
}
