package tokensourcetest

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMetadata(t *testing.T) {
	srv := NewServer(nil)
	defer srv.Close()

	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		var md map[string]any
		err = json.NewDecoder(resp.Body).Decode(&md)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d, %v", path, resp.StatusCode, err)
		}
		want := map[string]any{
			"issuer":                        srv.URL,
			"authorization_endpoint":        srv.URL + "/authorize",
			"token_endpoint":                srv.URL + "/token",
			"device_authorization_endpoint": srv.URL + "/device_authorization",
			"revocation_endpoint":           srv.URL + "/revoke",
		}
		for k, v := range want {
			if md[k] != v {
				t.Errorf("%s: %s = %v, want %v", path, k, md[k], v)
			}
		}
		if diff := cmp.Diff([]any{"S256"}, md["code_challenge_methods_supported"]); diff != "" {
			t.Errorf("%s: code_challenge_methods_supported (-want +got):\n%s", path, diff)
		}
	}
	if got := srv.MetadataURL(); got != srv.URL+"/.well-known/oauth-authorization-server" {
		t.Errorf("MetadataURL() = %q", got)
	}

	resp, err := http.Post(srv.MetadataURL(), "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d, want 405", resp.StatusCode)
	}
}
