package login

import (
	"errors"
	"fmt"
	"net"
	"net/url"
)

// listenLoopback listens where the redirect URI raw says, and returns the
// listener and the redirect URI to send, with the port it got. "" means
// http://127.0.0.1 on a port the system picks; so does a raw URI without a
// port or with port 0. The host must be a loopback IP literal: RFC 8252
// §8.3 advises against "localhost", which may resolve to another
// interface, or be missing from the firewall's loopback rules.
func listenLoopback(raw string) (net.Listener, *url.URL, error) {
	if raw == "" {
		raw = "http://127.0.0.1"
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("login: RedirectURL: %w", err)
	}
	ip := net.ParseIP(u.Hostname())
	switch {
	case u.Scheme != "http":
		return nil, nil, errors.New("login: RedirectURL must be an http URL on a loopback address, such as http://127.0.0.1/callback")
	case ip == nil || !ip.IsLoopback():
		return nil, nil, fmt.Errorf("login: RedirectURL host %q is not a loopback IP address: use 127.0.0.1 or [::1] (RFC 8252 §8.3)", u.Hostname())
	}
	port := u.Port()
	if port == "" {
		port = "0"
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), port))
	if err != nil {
		return nil, nil, fmt.Errorf("login: listening for the redirect: %w", err)
	}
	redirect := *u
	redirect.Host = ln.Addr().String() // "[::1]:port" for IPv6
	return ln, &redirect, nil
}
