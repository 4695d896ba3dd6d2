package tokensourcetest

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// deviceGrantType is the grant_type of a device's token requests
// (RFC 8628 §3.4).
const deviceGrantType = "urn:ietf:params:oauth:grant-type:device_code"

// devicePrefix begins device codes.
const devicePrefix = "dc_"

// userCodeAlphabet holds the characters of user codes: consonants only, as
// RFC 8628 §6.1 suggests, so that no word is spelled and none is confused
// with a digit.
const userCodeAlphabet = "BCDFGHJKLMNPQRSTVWXZ"

// slowDownStep is what a slow_down adds to a device's interval
// (RFC 8628 §3.5).
const slowDownStep = 5 * time.Second

// The states of a device authorization.
const (
	devicePending = iota
	deviceApproved
	deviceDenied
	deviceUsed // the token was issued
)

// A deviceCode is the server's record of one device authorization.
type deviceCode struct {
	device, user string
	scope        string
	expiry       time.Time     // server clock
	interval     time.Duration // grows with each slow_down
	lastPoll     time.Time     // real time, since clients poll on real timers
	state        int
}

// Errors of ApproveDevice and DenyDevice.
var (
	errUnknownUserCode = errors.New("tokensourcetest: unknown user code")
	errUserCodeExpired = errors.New("tokensourcetest: the user code expired")
	errUserCodeDecided = errors.New("tokensourcetest: the user code was already approved or denied")
)

// ApproveDevice approves the device authorization of userCode, as the user
// would after entering it at the verification URI: the device's next poll
// gets a token pair of a new family for the user Username. User codes are
// matched as RFC 8628 §6.1 suggests: case and dashes do not matter. It
// returns an error if the code is unknown, has expired (by the server
// clock), or was already approved or denied.
func (s *Server) ApproveDevice(userCode string) error {
	return s.decideDevice(userCode, deviceApproved)
}

// DenyDevice denies the device authorization of userCode: the device's next
// poll gets access_denied. Its errors are those of ApproveDevice.
func (s *Server) DenyDevice(userCode string) error {
	return s.decideDevice(userCode, deviceDenied)
}

func (s *Server) decideDevice(userCode string, state int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dc := s.userCodes[normalizeUserCode(userCode)]
	switch {
	case dc == nil:
		return errUnknownUserCode
	case !s.now().Before(dc.expiry):
		return errUserCodeExpired
	case dc.state != devicePending:
		return errUserCodeDecided
	}
	dc.state = state
	return nil
}

// SlowDownNext makes the next n polls of any device, in the order they
// arrive, get slow_down as if they came too soon, whatever the state of
// their authorization. Each widens that device's interval by 5 seconds, as
// RFC 8628 §3.5 has the client do, and the server then expects the wider
// interval. n <= 0 does nothing. Calls add up.
//
// Without it, a poll gets slow_down only when it comes less than half the
// device's interval after the previous one, in real time: a client that
// waits the interval is never told to slow down by the jitter of a busy
// machine.
func (s *Server) SlowDownNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.slowDowns += max(n, 0)
}

// serveDeviceAuthorization is the device authorization endpoint (RFC 8628
// §3.1). A device is usually a public client: client_id alone identifies
// it, and a client that sends its credentials must send the right ones.
func (s *Server) serveDeviceAuthorization(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		res := tokenError(http.StatusMethodNotAllowed, "invalid_request", "the device authorization endpoint accepts only POST")
		res.header = map[string]string{"Allow": http.MethodPost}
		res.write(w)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		invalidRequest("malformed form body: " + err.Error()).write(w)
		return
	}
	form := r.PostForm
	_, _, inHeader := r.BasicAuth()
	if inHeader || form.Has("client_secret") {
		if desc := s.authenticateClient(r, form); desc != "" {
			invalidClient(desc).write(w)
			return
		}
	} else if form.Get("client_id") != s.opts.ClientID {
		invalidClient("unknown client_id").write(w)
		return
	}
	s.deviceResponse(s.newDevice(form.Get("scope"))).write(w)
}

// newDevice records a new pending device authorization for scope.
func (s *Server) newDevice(scope string) *deviceCode {
	s.mu.Lock()
	defer s.mu.Unlock()
	dc := &deviceCode{
		device:   newToken(devicePrefix),
		user:     newUserCode(),
		scope:    scope,
		expiry:   s.now().Add(s.opts.DeviceCodeLifetime),
		interval: s.opts.DeviceInterval,
	}
	for s.userCodes[normalizeUserCode(dc.user)] != nil { // 20^8 codes: rare
		dc.user = newUserCode()
	}
	s.devices[dc.device] = dc
	s.userCodes[normalizeUserCode(dc.user)] = dc
	s.stats.DeviceAuthorizations++
	return dc
}

// deviceResponse is the device authorization response (RFC 8628 §3.2) for dc.
func (s *Server) deviceResponse(dc *deviceCode) tokenResult {
	verify := s.URL + "/device"
	return tokenResult{status: http.StatusOK, body: map[string]any{
		"device_code":               dc.device,
		"user_code":                 dc.user,
		"verification_uri":          verify,
		"verification_uri_complete": verify + "?" + url.Values{"user_code": {dc.user}}.Encode(),
		"expires_in":                int64(s.opts.DeviceCodeLifetime / time.Second),
		"interval":                  int64(dc.interval / time.Second),
	}}
}

// deviceGrantLocked answers a device's poll (RFC 8628 §3.4, §3.5). s.mu must
// be held.
func (s *Server) deviceGrantLocked(form url.Values) tokenResult {
	s.stats.DevicePolls++
	dc := s.devices[form.Get("device_code")]
	if dc == nil {
		return invalidGrant("unknown device_code")
	}
	now := time.Now()
	tooSoon := !dc.lastPoll.IsZero() && now.Sub(dc.lastPoll) < dc.interval/2
	dc.lastPoll = now
	switch {
	case dc.state == deviceUsed:
		return invalidGrant("the device code was already exchanged")
	case !s.now().Before(dc.expiry):
		return tokenError(http.StatusBadRequest, "expired_token", "the device code expired")
	case s.slowDowns > 0 || tooSoon:
		s.slowDowns = max(s.slowDowns-1, 0)
		dc.interval += slowDownStep
		s.stats.SlowDowns++
		return tokenError(http.StatusBadRequest, "slow_down", fmt.Sprintf("poll every %v", dc.interval))
	case dc.state == devicePending:
		return tokenError(http.StatusBadRequest, "authorization_pending", "the user has not approved yet")
	case dc.state == deviceDenied:
		return tokenError(http.StatusBadRequest, "access_denied", "the user denied the request")
	}
	dc.state = deviceUsed
	return tokenOK(s.loginLocked(Username, dc.scope))
}

// serveDeviceVerification is the verification page: the scripted user, who
// has entered user_code, approves it (or denies it, after DenyConsent). It
// answers in plain text, for a browser or an http.Client alike.
func (s *Server) serveDeviceVerification(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("user_code")
	if code == "" {
		http.Error(w, "Enter the code shown on your device: add ?user_code=XXXX-XXXX.", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	deny := s.denyConsent
	s.mu.Unlock()
	decide, msg := s.ApproveDevice, "Device approved. You may close this page."
	if deny {
		decide, msg = s.DenyDevice, "Device denied."
	}
	if err := decide(code); err != nil {
		http.Error(w, strings.TrimPrefix(err.Error(), "tokensourcetest: "), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, msg)
}

// newUserCode returns a random user code of the form BCDF-GHJK.
func newUserCode() string {
	b := make([]byte, 8)
	for i := range b {
		b[i] = userCodeAlphabet[randIntn(len(userCodeAlphabet))]
	}
	return string(b[:4]) + "-" + string(b[4:])
}

// randIntn returns a uniform random int in [0, n), n <= 256.
func randIntn(n int) int {
	limit := 256 - 256%n // rejects the bytes that would bias the result
	var b [1]byte
	for {
		rand.Read(b[:]) // never fails (crypto/rand)
		if int(b[0]) < limit {
			return int(b[0]) % n
		}
	}
}

// normalizeUserCode returns code in upper case without dashes or spaces.
func normalizeUserCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == ' ' {
			return -1
		}
		return r
	}, strings.ToUpper(code))
}

// wholeSeconds rounds d up to whole seconds, the unit of RFC 8628's
// interval.
func wholeSeconds(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}
