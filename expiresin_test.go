package tokensource

import (
	"net/http"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

// parseExpiresIn parses a 200 token response with an access token and
// expiresIn, a JSON value or, for a form-encoded body, an encoded one.
func parseExpiresIn(contentType, expiresIn string) (*oauth2.Token, error) {
	body := `{"access_token":"at","expires_in":` + expiresIn + `}`
	if contentType != "application/json" {
		body = "access_token=at&expires_in=" + expiresIn
	}
	resp := &http.Response{StatusCode: 200, Status: "200 OK", Header: http.Header{"Content-Type": {contentType}}}
	return parseTokenResponse(resp, []byte(body))
}

// TestExpiresInTrimmedAndIntegralDecimal reads expires_in values that
// mean a whole number of seconds though they are not written as one.
func TestExpiresInTrimmedAndIntegralDecimal(t *testing.T) {
	for _, tt := range []struct {
		contentType, expiresIn string
		want                   int64
	}{
		{"application/json", `"3600.0"`, 3600},
		{"application/json", `" 3600"`, 3600},
		{"application/json", `"3600 "`, 3600},
		{"application/json", `"\t3600.000\n"`, 3600},
		{"application/json", `"+3600"`, 3600},
		{"application/json", `3600.0`, 3600},
		{"application/json", `36e2`, 3600},
		{"application/json", `"-60.0"`, 0},
		{"application/json", `""`, 0},
		{"application/json", `null`, 0},
		{"application/x-www-form-urlencoded", "3600.0", 3600},
		{"application/x-www-form-urlencoded", "%203600", 3600},
	} {
		tok, err := parseExpiresIn(tt.contentType, tt.expiresIn)
		if err != nil || tok.ExpiresIn != tt.want {
			t.Errorf("%s expires_in %s: got %v, %v; want expires_in %d", tt.contentType, tt.expiresIn, tok, err, tt.want)
		}
	}
}

// TestExpiresInNotAWholeNumberIsAnError gives expires_in values that are
// no whole number of seconds: the response is malformed, and the error
// does not quote the value.
func TestExpiresInNotAWholeNumberIsAnError(t *testing.T) {
	for _, tt := range []struct{ contentType, expiresIn string }{
		{"application/json", `"3600.5"`},
		{"application/json", `3599.9`},
		{"application/json", `"3600."`},
		{"application/json", `".0"`},
		{"application/json", `"36e2"`},
		{"application/json", `"secret-soon"`},
		{"application/json", `"36 00"`},
		{"application/json", `true`},
		{"application/json", `{"s":3600}`},
		{"application/json", `["3600"]`},
		{"application/x-www-form-urlencoded", "secret-soon"},
	} {
		tok, err := parseExpiresIn(tt.contentType, tt.expiresIn)
		if err == nil || !strings.Contains(err.Error(), "expires_in that is not a whole number") {
			t.Errorf("%s expires_in %s: got %v, %v; want an error about expires_in", tt.contentType, tt.expiresIn, tok, err)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("error %q quotes the value", err)
		}
	}
}
