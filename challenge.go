package tokensource

import "strings"

// A challenge is one authentication challenge of a WWW-Authenticate header
// (RFC 9110 §11.6.1): a scheme, then either a token68 or auth parameters.
type challenge struct {
	scheme  string // as sent; schemes compare case-insensitively
	token68 string
	params  []param // in the order sent
}

// A param is one auth parameter of a challenge.
type param struct {
	name  string // lower-cased: parameter names are case-insensitive
	value string // unquoted
}

// param returns the value of the first parameter called name, which must be
// lower case, or "" when there is none. RFC 6750 §3 forbids repeating a
// parameter, so a later duplicate is ignored rather than trusted.
func (c *challenge) param(name string) string {
	for _, p := range c.params {
		if p.name == name {
			return p.value
		}
	}
	return ""
}

// parseChallenges parses the WWW-Authenticate field lines of one response.
// They are joined with ", " first, which RFC 9110 §5.3 says must not change
// their meaning: one comma-separated list of challenges, which a line break
// may split anywhere, even between a challenge's parameters. A line end
// still ends a quoted string, so that a malformed line cannot hide the
// challenges of the next.
//
// The parser is lenient, because servers are: empty list elements are
// skipped, a parameter after a bare scheme belongs to it, and when a
// challenge turns malformed, what was parsed of it is kept and parsing
// resumes at the next comma outside a quoted string. It never fails; a
// list that holds no challenge gives none.
func parseChallenges(lines []string) []challenge {
	p := challengeParser{s: strings.Join(lines, lineEnd+", ")}
	return p.list(nil)
}

// lineEnd marks where a field line ended. No field value holds it; the
// parser reads it as whitespace, which a quoted string cannot hold.
const lineEnd = "\n"

// challengeParser reads a list of challenges; i is the next byte to read.
type challengeParser struct {
	s string
	i int
}

// list appends the challenges of the rest of the list to cs.
func (p *challengeParser) list(cs []challenge) []challenge {
	for {
		p.skipSeparators()
		if p.eof() {
			return cs
		}
		c, ok := p.challenge()
		if c.scheme != "" {
			cs = append(cs, c)
		}
		if !ok {
			p.skipElement()
		}
	}
}

// challenge reads one challenge. ok is false when it runs into something
// malformed; c then holds what came before it, or no scheme if the
// malformed part is the scheme itself.
func (p *challengeParser) challenge() (c challenge, ok bool) {
	scheme := p.token()
	if scheme == "" {
		return c, false
	}
	spaced := p.skipOWS()
	if !p.atElementEnd() {
		if !spaced {
			// Like "Bearer=x": not a scheme at all.
			return c, false
		}
		name, value, ok := p.param()
		if !ok {
			t, ok := p.token68()
			return challenge{scheme: scheme, token68: t}, ok
		}
		c.params = append(c.params, param{name, value})
	}
	c.scheme = scheme
	for {
		p.skipOWS()
		if p.eof() {
			return c, true
		}
		if p.s[p.i] != ',' {
			return c, false
		}
		// After a comma comes another parameter of this challenge, or the
		// next challenge: only "name=" tells them apart. That also gives
		// "Bearer, error=x" its parameter, which strictly needs a space
		// before the comma, but is what the server meant.
		p.skipSeparators()
		name, value, ok := p.param()
		if !ok {
			return c, true
		}
		c.params = append(c.params, param{name, value})
	}
}

// param reads `token BWS "=" BWS ( token / quoted-string )`. On failure it
// consumes nothing, so that the caller can read the input as something else.
func (p *challengeParser) param() (name, value string, ok bool) {
	start := p.i
	name = p.token()
	if name == "" {
		return "", "", false
	}
	p.skipOWS()
	if p.eof() || p.s[p.i] != '=' {
		p.i = start
		return "", "", false
	}
	p.i++
	p.skipOWS()
	if !p.eof() && p.s[p.i] == '"' {
		value, ok = p.quoted()
	} else {
		value = p.token()
		ok = value != ""
	}
	if !ok {
		p.i = start
		return "", "", false
	}
	return strings.ToLower(name), value, true
}

// token68 reads `1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
// *"="`, which must be all that is left of the list element.
func (p *challengeParser) token68() (string, bool) {
	start := p.i
	for !p.eof() && isToken68Char(p.s[p.i]) {
		p.i++
	}
	if p.i == start {
		return "", false
	}
	for !p.eof() && p.s[p.i] == '=' {
		p.i++
	}
	t := p.s[start:p.i]
	p.skipOWS()
	if !p.atElementEnd() {
		return "", false
	}
	return t, true
}

// token reads a possibly empty run of tchar.
func (p *challengeParser) token() string {
	start := p.i
	for !p.eof() && isTokenChar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string at p.i and returns its unescaped content. It
// fails on a missing closing quote and on control characters other than
// HTAB, which the grammar does not allow even escaped.
func (p *challengeParser) quoted() (string, bool) {
	p.i++ // the opening quote
	start := p.i
	var b *strings.Builder // only for a string with escapes
	for ; !p.eof(); p.i++ {
		ch := p.s[p.i]
		switch {
		case ch == '"':
			p.i++
			if b == nil {
				return p.s[start : p.i-1], true
			}
			return b.String(), true
		case ch == '\\':
			if b == nil {
				b = new(strings.Builder)
				b.WriteString(p.s[start:p.i])
			}
			p.i++
			if p.eof() || !isQuotedChar(p.s[p.i]) {
				return "", false
			}
			b.WriteByte(p.s[p.i])
		case !isQuotedChar(ch):
			return "", false
		case b != nil:
			b.WriteByte(ch)
		}
	}
	return "", false
}

// skipElement skips to the next comma that is not inside a quoted string,
// or to the end: past a malformed list element.
func (p *challengeParser) skipElement() {
	quoted := false
	for ; !p.eof(); p.i++ {
		switch ch := p.s[p.i]; {
		case ch == lineEnd[0]:
			quoted = false
		case quoted && ch == '\\' && !strings.HasPrefix(p.s[p.i+1:], lineEnd):
			p.i++
		case ch == '"':
			quoted = !quoted
		case !quoted && ch == ',':
			return
		}
	}
}

// skipSeparators skips whitespace and commas: the separators of a list,
// including its empty elements.
func (p *challengeParser) skipSeparators() {
	for !p.eof() && (isSpace(p.s[p.i]) || p.s[p.i] == ',') {
		p.i++
	}
}

// skipOWS skips optional whitespace and reports whether there was any.
func (p *challengeParser) skipOWS() bool {
	start := p.i
	for !p.eof() && isSpace(p.s[p.i]) {
		p.i++
	}
	return p.i > start
}

func (p *challengeParser) eof() bool { return p.i >= len(p.s) }

// atElementEnd reports whether the current list element ends here.
func (p *challengeParser) atElementEnd() bool { return p.eof() || p.s[p.i] == ',' }

func isSpace(ch byte) bool { return ch == ' ' || ch == '\t' || ch == lineEnd[0] }

func isAlnum(ch byte) bool {
	return 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9'
}

// isTokenChar reports whether ch is a tchar (RFC 9110 §5.6.2).
func isTokenChar(ch byte) bool {
	return isAlnum(ch) || strings.IndexByte("!#$%&'*+-.^_`|~", ch) >= 0
}

// isToken68Char reports whether ch may appear in a token68 before its
// trailing "=" padding (RFC 9110 §11.2).
func isToken68Char(ch byte) bool {
	return isAlnum(ch) || strings.IndexByte("-._~+/", ch) >= 0
}

// isQuotedChar reports whether ch may appear in a quoted-string, as qdtext
// or, for '"' and '\\', escaped: HTAB, SP, VCHAR and obs-text.
func isQuotedChar(ch byte) bool {
	return ch == '\t' || ch >= ' ' && ch != 0x7f
}
