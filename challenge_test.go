package tokensource

import (
	"reflect"
	"strings"
	"testing"
)

// bearer builds an expected Bearer challenge from name, value pairs.
func bearer(kv ...string) challenge {
	return withParams("Bearer", kv...)
}

func withParams(scheme string, kv ...string) challenge {
	c := challenge{scheme: scheme}
	for i := 0; i < len(kv); i += 2 {
		c.params = append(c.params, param{kv[i], kv[i+1]})
	}
	return c
}

func TestParseChallenges(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   []challenge
	}{
		{"none", nil, nil},
		{"empty", []string{""}, nil},
		{"only separators", []string{" , ,, "}, nil},
		{"bare scheme", []string{"Bearer"}, []challenge{{scheme: "Bearer"}}},
		{
			"an unterminated quote ends with its line",
			[]string{`Basic realm="x`, `Bearer error="invalid_token"`},
			[]challenge{{scheme: "Basic"}, bearer("error", "invalid_token")},
		},
		{
			"an escape at the end of a line escapes nothing",
			[]string{`Basic realm="x\`, `Bearer error="invalid_token"`},
			[]challenge{{scheme: "Basic"}, bearer("error", "invalid_token")},
		},
		{"bare scheme, trailing space", []string{"Bearer  "}, []challenge{{scheme: "Bearer"}}},
		{
			"RFC 6750 §3 example",
			[]string{`Bearer realm="example"`},
			[]challenge{bearer("realm", "example")},
		},
		{
			"RFC 6750 §3 invalid_token",
			[]string{`Bearer realm="example", error="invalid_token", error_description="The access token expired"`},
			[]challenge{bearer("realm", "example", "error", "invalid_token", "error_description", "The access token expired")},
		},
		{
			"token values, no spaces after commas",
			[]string{`Bearer realm=example,error=invalid_token`},
			[]challenge{bearer("realm", "example", "error", "invalid_token")},
		},
		{
			"spaces around =",
			[]string{"Bearer error = \"invalid_token\" ,\trealm =\tx"},
			[]challenge{bearer("error", "invalid_token", "realm", "x")},
		},
		{
			"case-insensitive parameter names, scheme kept as sent",
			[]string{`bEaReR ERROR="invalid_token", Realm="R"`},
			[]challenge{withParams("bEaReR", "error", "invalid_token", "realm", "R")},
		},
		{
			"escapes in a quoted string",
			[]string{`Bearer error_description="say \"hi\" \\ back\slash", error="invalid_token"`},
			[]challenge{bearer("error_description", `say "hi" \ backslash`, "error", "invalid_token")},
		},
		{
			"comma and equals inside a quoted string",
			[]string{`Bearer realm="a, b=c", error="invalid_token"`},
			[]challenge{bearer("realm", "a, b=c", "error", "invalid_token")},
		},
		{
			"empty quoted string",
			[]string{`Bearer realm="", error="invalid_token"`},
			[]challenge{bearer("realm", "", "error", "invalid_token")},
		},
		{
			"several challenges in one header",
			[]string{`Basic realm="simple", Bearer realm="api", error="insufficient_scope", scope="read", DPoP algs="ES256 PS256"`},
			[]challenge{
				withParams("Basic", "realm", "simple"),
				bearer("realm", "api", "error", "insufficient_scope", "scope", "read"),
				withParams("DPoP", "algs", "ES256 PS256"),
			},
		},
		{
			"several headers",
			[]string{`Basic realm="simple"`, `Bearer error="invalid_token"`},
			[]challenge{withParams("Basic", "realm", "simple"), bearer("error", "invalid_token")},
		},
		{
			"a challenge's parameters on the next field line",
			[]string{`Bearer realm="api"`, `error="insufficient_scope", scope="admin"`},
			[]challenge{bearer("realm", "api", "error", "insufficient_scope", "scope", "admin")},
		},
		{
			"empty field lines",
			[]string{"", " ", ","},
			nil,
		},
		{
			"bare schemes in a list",
			[]string{"Negotiate, NTLM, Bearer"},
			[]challenge{{scheme: "Negotiate"}, {scheme: "NTLM"}, {scheme: "Bearer"}},
		},
		{
			"empty list elements",
			[]string{`, Bearer ,, realm="x" ,, , Basic,`},
			[]challenge{bearer("realm", "x"), {scheme: "Basic"}},
		},
		{
			"token68",
			[]string{"Negotiate YIIB+/x_y-z.~==, Bearer error=invalid_token"},
			[]challenge{{scheme: "Negotiate", token68: "YIIB+/x_y-z.~=="}, bearer("error", "invalid_token")},
		},
		{
			"token68 that ends in = is not a parameter",
			[]string{"Custom abc=, Bearer"},
			[]challenge{{scheme: "Custom", token68: "abc="}, {scheme: "Bearer"}},
		},
		{
			"duplicate parameter: both kept, first wins in lookups",
			[]string{`Bearer error="invalid_token", error="insufficient_scope"`},
			[]challenge{bearer("error", "invalid_token", "error", "insufficient_scope")},
		},
		{
			"junk before a challenge is skipped",
			[]string{`=junk, "quoted, junk", Bearer error="invalid_token"`},
			[]challenge{bearer("error", "invalid_token")},
		},
		{
			"scheme followed by = is not a challenge",
			[]string{`Bearer="x", Basic`},
			[]challenge{{scheme: "Basic"}},
		},
		{
			"missing comma: what came before is kept",
			[]string{`Bearer realm="a" error="invalid_token", Basic`},
			[]challenge{bearer("realm", "a"), {scheme: "Basic"}},
		},
		{
			"unterminated quoted string",
			[]string{`Bearer realm="a, error=invalid_token`},
			[]challenge{{scheme: "Bearer"}},
		},
		{
			"a quoted string ends at the next unescaped quote",
			[]string{`Bearer realm="a, error="invalid_token"`},
			[]challenge{bearer("realm", "a, error=")},
		},
		{
			"parameter after a bare scheme and a comma belongs to it",
			[]string{`Bearer, error="insufficient_scope", Basic`},
			[]challenge{bearer("error", "insufficient_scope"), {scheme: "Basic"}},
		},
		{
			"parameter after a token68 is junk",
			[]string{`Negotiate abc==, realm="x", Bearer`},
			[]challenge{{scheme: "Negotiate", token68: "abc=="}, {scheme: "Bearer"}},
		},
		{
			"control character in a quoted string",
			[]string{"Bearer realm=\"a\x01b\", Basic"},
			[]challenge{{scheme: "Bearer"}, {scheme: "Basic"}},
		},
		{
			"escaped control character",
			[]string{"Bearer realm=\"a\\\x00\""},
			[]challenge{{scheme: "Bearer"}},
		},
		{
			"token68 followed by junk",
			[]string{"Custom abc def, Bearer"},
			[]challenge{{scheme: "Custom"}, {scheme: "Bearer"}},
		},
		{
			"obs-text in a quoted string",
			[]string{"Bearer realm=\"caf\xc3\xa9\""},
			[]challenge{bearer("realm", "caf\u00e9")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseChallenges(tt.values)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseChallenges(%q)\n got %#v\nwant %#v", tt.values, got, tt.want)
			}
		})
	}
}

func TestChallengeParam(t *testing.T) {
	c := bearer("realm", "r", "error", "invalid_token", "error", "other")
	if got := c.param("error"); got != "invalid_token" {
		t.Errorf(`param("error") = %q, want the first one, "invalid_token"`, got)
	}
	if got := c.param("scope"); got != "" {
		t.Errorf(`param("scope") = %q, want ""`, got)
	}
}

// formatChallenges writes challenges back in canonical form: every
// parameter value quoted, one ", " between list elements.
func formatChallenges(cs []challenge) string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.scheme)
		if c.token68 != "" {
			b.WriteString(" " + c.token68)
		}
		for j, p := range c.params {
			if j == 0 {
				b.WriteString(" ")
			} else {
				b.WriteString(", ")
			}
			b.WriteString(p.name + `="`)
			for k := 0; k < len(p.value); k++ {
				if p.value[k] == '"' || p.value[k] == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(p.value[k])
			}
			b.WriteString(`"`)
		}
	}
	return b.String()
}

// FuzzParseChallenges checks that the parser never panics, that what it
// returns is well formed, and that parsing its canonical form gives the
// same challenges back.
func FuzzParseChallenges(f *testing.F) {
	// More seeds are in testdata/fuzz/FuzzParseChallenges.
	f.Add(`Bearer realm="example", error="invalid_token", error_description="The access token expired"`)
	f.Add(`Basic realm="a, b", Bearer error=invalid_token, Negotiate YIIB==`)
	f.Fuzz(func(t *testing.T, s string) {
		cs := parseChallenges([]string{s})
		for _, c := range cs {
			checkChallenge(t, c)
		}
		canon := formatChallenges(cs)
		again := parseChallenges([]string{canon})
		if !reflect.DeepEqual(cs, again) {
			t.Errorf("parse(%q)\n= %#v, formatted %q,\nparsed again %#v", s, cs, canon, again)
		}
	})
}

func checkChallenge(t *testing.T, c challenge) {
	t.Helper()
	if c.scheme == "" || strings.IndexFunc(c.scheme, func(r rune) bool { return r > 0x7f || !isTokenChar(byte(r)) }) >= 0 {
		t.Errorf("scheme %q is not a token", c.scheme)
	}
	if c.token68 != "" && len(c.params) > 0 {
		t.Errorf("challenge %#v has both a token68 and parameters", c)
	}
	for _, p := range c.params {
		if p.name == "" || p.name != strings.ToLower(p.name) {
			t.Errorf("parameter name %q is empty or not lower case", p.name)
		}
	}
}
