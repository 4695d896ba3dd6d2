package tokensource

import (
	"net/http"
	"strings"
)

// tokenAllowed reports whether req may carry the token. A request that is
// not a redirect may. A redirect may if every hop of its chain so far went to
// the first request's host or to a subdomain of it, the rule net/http's
// Client applies to the Authorization header it copies on redirects (ports
// do not matter to it); and, if the first request was https, over https.
// Once a hop breaks the rule, the token stays off for the rest of the chain.
//
// http.Client links the chain: each hop's Response is the redirect response
// that caused it, and that response's Request is the previous hop. A chain
// whose first request cannot be reached (a Base that does not set
// Response.Request) gets no token.
func tokenAllowed(req *http.Request) bool {
	if req.Response == nil {
		return true
	}
	first := req
	for first.Response != nil {
		if first.Response.Request == nil {
			return false
		}
		first = first.Response.Request
	}
	parent := first.URL.Hostname()
	// Bearer tokens travel only over TLS (RFC 6750 §5.3): net/http would
	// send one in the clear after an https→http redirect to the same host.
	tls := first.URL.Scheme == "https"
	for hop := req; hop != first; hop = hop.Response.Request {
		if !isDomainOrSubdomain(hop.URL.Hostname(), parent) || tls && hop.URL.Scheme != "https" {
			return false
		}
	}
	return true
}

// isDomainOrSubdomain reports whether host is parent or a subdomain of it:
// "api.example.com" and "example.com" are under "example.com",
// "badexample.com" is not. ASCII letters compare case-insensitively, as DNS
// names do; other bytes must be equal, so a name spelled in Unicode in one
// place and in Punycode in the other does not match.
func isDomainOrSubdomain(host, parent string) bool {
	if asciiEqualFold(host, parent) {
		return true
	}
	// An IPv6 address (with a zone, perhaps) has no subdomains: in
	// "::1%.example.com" the suffix is part of the zone.
	if parent == "" || strings.ContainsAny(host, ":%") {
		return false
	}
	cut := len(host) - len(parent) - 1
	return cut > 0 && host[cut] == '.' && asciiEqualFold(host[cut+1:], parent)
}

// asciiEqualFold is strings.EqualFold restricted to ASCII: Unicode folding
// would let "K" (U+212A KELVIN SIGN) match "k", which no DNS lookup does.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(ch byte) byte {
	if 'A' <= ch && ch <= 'Z' {
		return ch + ('a' - 'A')
	}
	return ch
}
