package tokensourcetest

import (
	"encoding/base64"
	"net/http/httptest"
	"testing"
)

// TestECThumbprint checks the RFC 7638 thumbprint against the key of
// RFC 9449's examples, whose jkt they give.
func TestECThumbprint(t *testing.T) {
	x, _ := base64.RawURLEncoding.DecodeString("l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs")
	y, _ := base64.RawURLEncoding.DecodeString("9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA")
	const want = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
	if got := ecThumbprint(x, y); got != want {
		t.Errorf("ecThumbprint = %q, want %q", got, want)
	}
	raw := []byte(`{"kty":"EC","x":"l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs","y":"9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA","crv":"P-256"}`)
	if _, jkt, bad := parseJWK(raw); bad != "" || jkt != want {
		t.Errorf("parseJWK: %q, %q; want %q", jkt, bad, want)
	}
}

func TestSameHTU(t *testing.T) {
	r := httptest.NewRequest("GET", "http://example.com/token?x=1", nil)
	for htu, want := range map[string]bool{
		"http://example.com/token":            true,
		"http://EXAMPLE.com/token":            true,
		"HTTP://example.com/token":            true,
		"http://example.com:80/token":         true,
		"http://example.com:/token":           true,
		"http://example.com/token?y=2#frag":   true,
		"http://example.com/%74oken":          true,
		"http://example.com:8080/token":       false,
		"https://example.com/token":           false,
		"http://example.com/Token":            false,
		"http://example.com/token/":           false,
		"http://example.org/token":            false,
		"/token":                              false,
		"example.com/token":                   false,
		"http:example.com/token":              false,
		"http://example.com/other?p=/token":   false,
		"http://user@example.com:80/token":    true,
		"http://example.com/token\x00":        false,
		"http://example.com:443/token":        false,
		"https://example.com:443/token":       false,
		"http://example.com/token#/elsewhere": true,
	} {
		if got := sameHTU(htu, r); got != want {
			t.Errorf("sameHTU(%q) = %v, want %v", htu, got, want)
		}
	}
	root := httptest.NewRequest("GET", "http://example.com", nil)
	if !sameHTU("http://example.com", root) || !sameHTU("http://example.com/", root) {
		t.Errorf("an empty path is not the same as /")
	}
}
